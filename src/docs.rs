//! Shell completions and man pages, generated from the clap definitions so they cannot drift
//! (a test compares them with the committed copies).

use crate::cli::Cli;
use clap::CommandFactory;
use clap_complete::Shell;

/// Every generated file: (path relative to the repository, contents).
pub fn generated() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for (shell, name) in [
        (Shell::Bash, "pfctl.bash"),
        (Shell::Zsh, "_pfctl"),
        (Shell::Fish, "pfctl.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "pfctl", &mut buf);
        files.push((format!("completions/{name}"), buf));
    }
    let cmd = Cli::command();
    let mut pages = vec![("pfctl".to_string(), cmd.clone())];
    let mut stack = vec![("pfctl".to_string(), cmd)];
    while let Some((prefix, c)) = stack.pop() {
        for sub in c.get_subcommands() {
            let name = format!("{prefix}-{}", sub.get_name());
            pages.push((name.clone(), sub.clone()));
            stack.push((name, sub.clone()));
        }
    }
    for (name, c) in pages {
        let mut buf = Vec::new();
        let c = c.name(name.clone()).version(env!("CARGO_PKG_VERSION"));
        if clap_mangen::Man::new(c).render(&mut buf).is_ok() {
            files.push((format!("man/{name}.1"), buf));
        }
    }
    files.sort();
    files
}
