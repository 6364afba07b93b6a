//! The SSH layer against a real OpenSSH server (`/usr/sbin/sshd`), started
//! per test on a free loopback port with its own host key. No mocks.
//!
//! Needs root (the server logs in as root) and openssh-server installed; the
//! tests are skipped with a message when sshd is missing.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pfctl::secret::Secret;
use pfctl::ssh::known_hosts::{self, Verdict};
use pfctl::ssh::{Endpoint, HostKeyPolicy, Session, SshError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SSHD: &str = "/usr/sbin/sshd";

struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "pfctl-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    /// Starts sshd, or returns None (test skipped) when it is not installed.
    fn start() -> Option<Sshd> {
        if !Path::new(SSHD).exists() {
            eprintln!("{SSHD} not installed; skipping");
            return None;
        }
        std::fs::create_dir_all("/run/sshd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("hostkey"));
        keygen(&d.join("client"));
        std::fs::copy(d.join("client.pub"), d.join("authorized_keys")).unwrap();
        for attempt in 0..5 {
            let port = free_port();
            let conf = format!(
                "ListenAddress 127.0.0.1\nPort {port}\nHostKey {d}/hostkey\nPidFile {d}/sshd.pid\n\
                 UsePAM no\nAuthorizedKeysFile {d}/authorized_keys\nStrictModes no\n\
                 PasswordAuthentication yes\nKbdInteractiveAuthentication no\n\
                 Subsystem sftp internal-sftp\nAllowStreamLocalForwarding yes\nAllowTcpForwarding yes\n\
                 AllowUsers root\nPermitRootLogin yes\nLogLevel VERBOSE\nMaxAuthTries 20\n",
                d = d.display()
            );
            std::fs::write(d.join("sshd_config"), conf).unwrap();
            let log = std::fs::File::create(d.join("sshd.log")).unwrap();
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(d.join("sshd_config"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start sshd");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Sshd { dir, port, child });
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            eprintln!(
                "sshd attempt {attempt} on port {port} failed: {}",
                std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
            );
        }
        panic!("sshd did not start");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn host_pub(&self) -> String {
        let text = std::fs::read_to_string(self.path("hostkey.pub")).unwrap();
        let mut f = text.split_whitespace();
        format!("{} {}", f.next().unwrap(), f.next().unwrap())
    }

    fn host_fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.path("hostkey.pub"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    }

    /// A known_hosts file that trusts this server.
    fn trusted_known_hosts(&self) -> PathBuf {
        let p = self.path("known_hosts");
        std::fs::write(
            &p,
            format!("[127.0.0.1]:{} {}\n", self.port, self.host_pub()),
        )
        .unwrap();
        p
    }

    /// An endpoint that logs in as root with the client key and trusts the host.
    fn endpoint(&self) -> Endpoint {
        Endpoint {
            host: "127.0.0.1".into(),
            port: self.port,
            user: "root".into(),
            identity_files: vec![self.path("client")],
            identities_only: false,
            password: None,
            use_agent: false,
            known_hosts: vec![self.trusted_known_hosts()],
            policy: HostKeyPolicy::Strict,
            connect_timeout: Duration::from_secs(10),
            jump: None,
        }
    }
}

#[tokio::test]
async fn key_auth_and_exec_collects_everything() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Session::connect(&sshd.endpoint()).await.unwrap();
    let out = s.exec("echo hi; echo err >&2; exit 3", None).await.unwrap();
    assert_eq!(out.stdout, b"hi\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.status, Some(3));
    // Many channels at once on the same connection, from many tasks.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.exec(&format!("echo {i}"), None).await.unwrap()
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let out = t.await.unwrap();
        assert_eq!(out.stdout_lossy(), format!("{i}\n"));
        assert!(out.success());
    }
    s.close().await;
}

#[tokio::test]
async fn exec_stdin_round_trips_one_mebibyte() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Session::connect(&sshd.endpoint()).await.unwrap();
    let data: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let out = s.exec("cat", Some(&data)).await.unwrap();
    assert_eq!(out.status, Some(0));
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data);
}

#[tokio::test]
async fn exec_stream_round_trip() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Session::connect(&sshd.endpoint()).await.unwrap();
    let mut st = s.exec_stream("cat; echo done >&2; exit 5").await.unwrap();
    st.write_all(b"hello over ssh\n").await.unwrap();
    st.shutdown().await.unwrap();
    let mut got = Vec::new();
    st.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello over ssh\n");
    assert_eq!(st.exit_status().await, Some(5));
    assert_eq!(st.stderr(), "done\n");

    // Larger payload both ways at once.
    let mut st = s.exec_stream("cat").await.unwrap();
    let data: Vec<u8> = (0..512 * 1024).map(|i| (i % 253) as u8).collect();
    let (mut r, mut w) = tokio::io::split(st);
    let send = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&send).await.unwrap();
        w.shutdown().await.unwrap();
        w
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    let w = writer.await.unwrap();
    st = r.unsplit(w);
    assert!(got == data);
    assert_eq!(st.exit_status().await, Some(0));
}

#[tokio::test]
async fn streamlocal_reaches_a_unix_socket() {
    let Some(sshd) = Sshd::start() else { return };
    let sock = PathBuf::from(format!(
        "/tmp/pfctl-ssh-test-{}-{}.sock",
        std::process::id(),
        sshd.port
    ));
    let _ = std::fs::remove_file(&sock);
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let s = Session::connect(&sshd.endpoint()).await.unwrap();
    let mut st = s.open_streamlocal(sock.to_str().unwrap()).await.unwrap();
    st.write_all(b"{\"ping\":1}\n").await.unwrap();
    let mut buf = [0u8; 11];
    st.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"{\"ping\":1}\n");
    drop(st);

    // A socket that does not exist: a channel error, not a hang.
    let Err(e) = s.open_streamlocal("/tmp/pfctl-no-such-socket.sock").await else {
        panic!("a missing socket must not open");
    };
    assert!(matches!(e, SshError::Channel { .. }), "{e}");
    let _ = std::fs::remove_file(&sock);
}

#[tokio::test]
async fn unknown_host_key_is_refused_under_strict() {
    let Some(sshd) = Sshd::start() else { return };
    let mut ep = sshd.endpoint();
    let kh = sshd.path("empty_known_hosts");
    ep.known_hosts = vec![kh.clone()];
    let e = Session::connect(&ep).await.unwrap_err();
    let msg = e.to_string();
    match &e {
        SshError::HostKeyUnknown {
            fingerprint,
            key_type,
            port,
            known_hosts,
            ..
        } => {
            assert_eq!(fingerprint, &sshd.host_fingerprint());
            assert_eq!(key_type, "ssh-ed25519");
            assert_eq!(*port, sshd.port);
            assert_eq!(known_hosts, &kh);
        }
        other => panic!("expected HostKeyUnknown, got {other:?}"),
    }
    assert!(msg.contains(&sshd.host_fingerprint()), "{msg}");
    assert!(
        msg.contains(&format!(
            "ssh-keyscan -t ed25519 -p {} 127.0.0.1",
            sshd.port
        )),
        "{msg}"
    );
    assert!(!kh.exists(), "strict must not write known_hosts");
}

#[tokio::test]
async fn accept_new_records_one_line_then_trusts() {
    let Some(sshd) = Sshd::start() else { return };
    let mut ep = sshd.endpoint();
    let kh = sshd.path("new/dir/known_hosts");
    ep.known_hosts = vec![kh.clone()];
    ep.policy = HostKeyPolicy::AcceptNew;
    let s = Session::connect(&ep).await.unwrap();
    s.close().await;
    let text = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(
        text,
        format!("[127.0.0.1]:{} {}\n", sshd.port, sshd.host_pub())
    );
    // Second time: trusted, even under strict, and nothing is added.
    ep.policy = HostKeyPolicy::Strict;
    let s = Session::connect(&ep).await.unwrap();
    assert_eq!(s.exec("true", None).await.unwrap().status, Some(0));
    ep.policy = HostKeyPolicy::AcceptNew;
    Session::connect(&ep).await.unwrap();
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), text);
    let key = russh::keys::PublicKey::from_openssh(&sshd.host_pub()).unwrap();
    assert_eq!(
        known_hosts::verify(&[kh], "127.0.0.1", sshd.port, &key),
        Verdict::Trusted
    );
}

#[tokio::test]
async fn changed_host_key_is_refused_under_both_policies() {
    let Some(sshd) = Sshd::start() else { return };
    keygen(&sshd.path("impostor"));
    let other = std::fs::read_to_string(sshd.path("impostor.pub")).unwrap();
    let kh = sshd.path("known_hosts_changed");
    std::fs::write(
        &kh,
        format!("# old key\n[127.0.0.1]:{} {}", sshd.port, other.trim()),
    )
    .unwrap();
    let before = std::fs::read_to_string(&kh).unwrap();
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        let mut ep = sshd.endpoint();
        ep.known_hosts = vec![kh.clone()];
        ep.policy = policy;
        let e = Session::connect(&ep).await.unwrap_err();
        match &e {
            SshError::HostKeyChanged {
                file,
                line,
                fingerprint,
                ..
            } => {
                assert_eq!(file, &kh);
                assert_eq!(*line, 2);
                assert!(fingerprint.contains(&sshd.host_fingerprint()));
            }
            other => panic!("{policy}: expected HostKeyChanged, got {other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.contains(&format!("{}:2", kh.display())), "{msg}");
        assert!(msg.contains("ssh-keygen -R"), "{msg}");
    }
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), before);
}

#[tokio::test]
async fn auth_failure_lists_what_was_tried_without_the_password() {
    let Some(sshd) = Sshd::start() else { return };
    keygen(&sshd.path("stranger"));
    let mut ep = sshd.endpoint();
    ep.identity_files = vec![sshd.path("no-such-key"), sshd.path("stranger")];
    ep.password = Some(Secret::new("Wr0ng-pässword-x9"));
    let e = Session::connect(&ep).await.unwrap_err();
    let msg = e.to_string();
    match &e {
        SshError::Auth { user, host, tried } => {
            assert_eq!(user, "root");
            assert_eq!(host, "127.0.0.1");
            assert_eq!(
                tried,
                &vec![
                    sshd.path("stranger").display().to_string(),
                    "password".to_string()
                ]
            );
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    assert!(!msg.contains("Wr0ng"), "{msg}");
    assert!(!format!("{e:?}").contains("Wr0ng"));
    assert!(
        msg.starts_with("authentication failed for root@127.0.0.1 (tried: "),
        "{msg}"
    );

    // Nothing usable at all.
    let mut ep = sshd.endpoint();
    ep.identity_files = vec![sshd.path("no-such-key")];
    let e = Session::connect(&ep).await.unwrap_err();
    assert!(
        matches!(&e, SshError::Auth { tried, .. } if tried.is_empty()),
        "{e}"
    );
}

#[tokio::test]
async fn closed_port_is_connect_error() {
    let Some(sshd) = Sshd::start() else { return };
    let mut ep = sshd.endpoint();
    ep.port = free_port();
    let e = Session::connect(&ep).await.unwrap_err();
    assert!(matches!(e, SshError::Connect { .. }), "{e:?}");
    assert!(e.is_unreachable());
    assert_eq!(
        e.to_string(),
        format!(
            "cannot connect to 127.0.0.1:{}: connection refused",
            ep.port
        )
    );

    ep.host = "no-such-host.invalid".into();
    let e = Session::connect(&ep).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot resolve host 'no-such-host.invalid'"),
        "{e}"
    );
}

#[tokio::test]
async fn blackhole_times_out_quickly() {
    let mut ep = Endpoint::new("10.255.255.1", "root");
    ep.connect_timeout = Duration::from_secs(1);
    ep.use_agent = false;
    let started = Instant::now();
    let e = Session::connect(&ep).await.unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert!(e.is_unreachable(), "{e:?}");
    if let SshError::Timeout { stage, .. } = &e {
        assert_eq!(*stage, "connecting");
        assert_eq!(
            e.to_string(),
            "no answer from 10.255.255.1:22 within 1s (while connecting)"
        );
    }
}

#[tokio::test]
async fn jump_host_to_itself() {
    let Some(sshd) = Sshd::start() else { return };
    let mut ep = sshd.endpoint();
    ep.jump = Some(Box::new(sshd.endpoint()));
    let s = Session::connect(&ep).await.unwrap();
    let out = s.exec("echo via-jump", None).await.unwrap();
    assert_eq!(out.stdout, b"via-jump\n");
    let log = std::fs::read_to_string(sshd.path("sshd.log")).unwrap();
    assert!(
        log.matches("Accepted publickey for root").count() >= 2,
        "{log}"
    );
    s.close().await;

    // A jump host that cannot reach the target: a Connect error naming it.
    let mut ep = sshd.endpoint();
    ep.port = free_port();
    ep.jump = Some(Box::new(sshd.endpoint()));
    let e = Session::connect(&ep).await.unwrap_err();
    assert!(matches!(e, SshError::Connect { .. }), "{e:?}");
    assert!(e.to_string().contains("jump host"), "{e}");
}

#[tokio::test]
async fn sftp_write_and_read_back() {
    let Some(sshd) = Sshd::start() else { return };
    let s = Session::connect(&sshd.endpoint()).await.unwrap();
    let sftp = s.sftp().await.unwrap();
    let path = sshd.path("sftp-file.bin");
    let data: Vec<u8> = (0..200_000).map(|i| (i % 241) as u8).collect();
    {
        let mut f = sftp.create(path.to_str().unwrap()).await.unwrap();
        f.write_all(&data).await.unwrap();
        f.shutdown().await.unwrap();
    }
    let back = sftp.read(path.to_str().unwrap()).await.unwrap();
    assert!(back == data);
    assert!(std::fs::read(&path).unwrap() == data);
    let _ = sftp.close().await;
    // Keep the output tidy if a later assertion prints the log.
    std::io::stderr().flush().unwrap();
}
