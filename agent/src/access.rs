//! Who may talk to the resident agent: decided per connection from SO_PEERCRED, because the
//! socket's file mode alone can be loosened by an administrator without anyone noticing.

use std::ffi::CString;

use nix::unistd::{getgrouplist, Gid, Group, Uid, User};

/// The group whose members may use the socket.
#[derive(Debug, Clone)]
pub struct SocketGroup {
    pub name: String,
    pub gid: u32,
    /// False when no such group exists and the agent's own gid stands in for it.
    pub exists: bool,
}

impl SocketGroup {
    pub fn resolve(name: &str) -> Self {
        match Group::from_name(name) {
            Ok(Some(g)) => SocketGroup {
                name: name.to_string(),
                gid: g.gid.as_raw(),
                exists: true,
            },
            _ => SocketGroup {
                name: name.to_string(),
                gid: nix::unistd::getgid().as_raw(),
                exists: false,
            },
        }
    }
}

/// Root, the agent's own user, a process running with the group as its gid, or a user whose
/// primary or supplementary groups include it.
pub fn permits(
    peer_uid: u32,
    peer_gid: u32,
    agent_uid: u32,
    group_gid: u32,
    user_gids: &[u32],
) -> bool {
    peer_uid == 0
        || peer_uid == agent_uid
        || peer_gid == group_gid
        || user_gids.contains(&group_gid)
}

/// The primary and supplementary groups of the account `uid` (empty for an unknown uid).
/// Blocking: it may consult NSS.
pub fn user_gids(uid: u32) -> Vec<u32> {
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
        return Vec::new();
    };
    let mut gids = vec![user.gid.as_raw()];
    if let Ok(name) = CString::new(user.name) {
        if let Ok(list) = getgrouplist(&name, Gid::from_raw(user.gid.as_raw())) {
            gids.extend(list.into_iter().map(Gid::as_raw));
        }
    }
    gids
}

pub fn refusal(uid: u32, group: &SocketGroup) -> String {
    format!(
        "permission denied: uid {uid} is not root and not in group '{}'",
        group.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_decision() {
        // root and the agent's own user always pass
        assert!(permits(0, 0, 0, 999, &[]));
        assert!(permits(1000, 1000, 1000, 999, &[]));
        // membership through the account's groups, or the process's gid
        assert!(permits(1001, 1001, 0, 999, &[1001, 999]));
        assert!(permits(1001, 999, 0, 999, &[1001]));
        // anyone else is refused
        assert!(!permits(1001, 1001, 0, 999, &[1001, 27]));
        assert!(!permits(65534, 65534, 0, 999, &[]));
    }

    #[test]
    fn root_account_groups() {
        assert!(user_gids(0).contains(&0));
        assert!(user_gids(4_000_000_000).is_empty());
        let g = SocketGroup::resolve("root");
        assert!(g.exists && g.gid == 0);
        let g = SocketGroup::resolve("no-such-group-pfagent");
        assert!(!g.exists);
        assert_eq!(
            refusal(7, &g),
            "permission denied: uid 7 is not root and not in group 'no-such-group-pfagent'"
        );
    }
}
