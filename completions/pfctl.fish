# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_pfctl_global_optspecs
    string join \n i/inventory= c/cluster= host= l/limit= parallel= connect-timeout= timeout= host-key-checking= ssh-config= identity= k/ask-pass o/output= v/verbose q/quiet h/help V/version
end

function __fish_pfctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_pfctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_pfctl_using_subcommand
    set -l cmd (__fish_pfctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c pfctl -n "__fish_pfctl_needs_command" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_needs_command" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_needs_command" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_needs_command" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_needs_command" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_needs_command" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_needs_command" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_needs_command" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_needs_command" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_needs_command" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_needs_command" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_needs_command" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_needs_command" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_needs_command" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pfctl -n "__fish_pfctl_needs_command" -s V -l version -d 'Print version'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "facts" -d 'Show what each node\'s agent reports: OS, CPU, memory, disks, clock, Docker and swarm'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "healthcheck" -d 'Check the cluster: nodes, engines, swarm, stack, files, clocks, connectivity, endpoints'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "autoheal" -d 'Fix what healthcheck finds: show a plan, apply it (asking first), check again and report per action fixed, not fixed, skipped or failed. Problems without a safe fix get a recipe'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "autocluster" -d 'Turn the inventory\'s nodes into a running, verified cluster: preflight, confirmation, firewall, swarm (3, 5 or 7 managers; `--workers N` more as workers), labels, images, configuration, stack deploy, convergence and a healthcheck. Journaled: `pfctl resume RUN_ID` continues a run that stopped'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "resume" -d 'Continue an operation run (autocluster) that stopped, from its first phase not done'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "backup" -d 'Back up what a restore needs (the profile\'s files and volumes) into one verified archive; list, verify and prune the archives at a destination'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "license" -d 'Licenses: request one for this cluster, install it on every node, show its status; and, vendor side, make signing keys and issue licenses'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "password" -d 'The platform\'s password tokens: encrypt a password with the cluster\'s encryption_key (Fernet, as the platform reads it), or print what is_pass (or a token) decrypts to'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "upgrade" -d 'Upgrade the stack: `plan` shows per service what changes, in which order, what rolls without downtime and what stops, and the quorum analysis; `apply` gates (healthcheck, a verified backup, the images on every node), then rolls group by group with a health gate after each, journaled (`pfctl resume RUN_ID`); `rollback RUN_ID` puts the previous specs back'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "restore" -d 'Put a backup back: shows the plan, asks, stops the services using what it writes, writes atomically (replaced files kept as `.pfctl-prev`), restarts them and runs healthcheck'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "audit" -d 'What the agents did on request (autoheal\'s actions), per node and cluster-wide, newest first'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "agent" -d 'Install, upgrade or inspect pfagent on the nodes'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "firewall" -d 'Let the ports the cluster needs (the swarm\'s and the profile\'s) in through each node\'s firewall: firewalld where it runs, else nftables. Same as `node-action --action open_firewall_ports`'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "haproxy-config" -d 'An HAProxy configuration balancing the profile\'s ports (powerflow: 80/443, 5556, 3141) over the swarm\'s managers, round robin with health checks. Same as `cluster-action --action generate_haproxy_config`'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "node-action" -d 'The original per-node form: `node-action --action facts`'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "cluster-action" -d 'The original cluster form: `cluster-action --action facts`'
complete -c pfctl -n "__fish_pfctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand facts" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -l profile -d 'Platform profile: powerflow, demo or a TOML file (default: the inventory\'s, else powerflow)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -l fail-on -d 'Make warnings count as failures (exit 2), for strict CI gates' -r -f -a "warn\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -l history -d 'List the last N runs the nodes remember (default 20, at most 100), newest first, instead of checking: time, run id, status, problems, controller' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -l lock-wait -d 'With --cron: seconds to wait for another run to release the lock before giving up' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -l notify -d 'POST the JSON report to this URL (3 attempts); a failure is reported on stderr and never changes the exit code. With --cron, only when something is wrong or changed. A URL with a token is better passed as PFCTL_NOTIFY_URL: arguments are visible to other local users' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -l cron -d 'For crontabs: no prompts, colour or progress; one run at a time per cluster (a lock under $PFCTL_STATE_DIR, else $XDG_STATE_HOME/pfctl or ~/.local/state/pfctl); a last-run.json status file; output only when something is wrong or changed. Exit 75 when another run holds the lock'
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand healthcheck" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -l profile -d 'Platform profile: powerflow, demo or a TOML file (default: the inventory\'s, else powerflow)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -l max-actions -d 'Apply at most this many actions; the rest are reported as skipped' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -l source -d 'Copy drifted files from this node instead of from the majority. Secret files (encryption_key, is_pass) only with --force as well: data encrypted with another key becomes unreadable' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -l keep-exited -d 'Stopped containers to keep per service (the newest), for diagnosis' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -l dry-run -d 'Show the plan and change nothing'
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -s y -l yes -d 'Apply without asking (needed when there is no terminal to ask on)'
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -l force -d 'Act even when more than half the nodes are unreachable or their agent or engine failed'
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand autoheal" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -l profile -d 'Platform profile: powerflow, demo or a TOML file (default: the inventory\'s, else powerflow)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -l workers -d 'The last N nodes (inventory order) join as workers; the others are managers (3, 5 or 7)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -l until -d 'Stop after this phase (the run stays resumable with `pfctl resume RUN_ID`)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -l plan -d 'Show what each phase would do on each node; change nothing'
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -s y -l yes -d 'Do not ask (needed without a terminal): existing swarm state on the nodes is wiped'
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand autocluster" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -l until -d 'Stop after this phase' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand resume" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -f -a "create" -d 'Make a backup: `<cluster>-backup[-data-only]-<UTC time>.tar.zst[.age]` at the destination, written as `.partial` and renamed only when complete, with a catalogue record beside it'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -f -a "list" -d 'The backups at a destination: id, time, size, sources, verified'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -f -a "verify" -d 'Read a backup through and check the manifest and every checksum (`--deep`: also extract it into a scratch directory and compare). Names the damaged entry'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -f -a "prune" -d 'Delete the backups a retention policy does not keep (this cluster\'s only)'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and not __fish_seen_subcommand_from create list verify prune help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l profile -d 'Platform profile: powerflow, demo or a TOML file (default: the inventory\'s, else powerflow)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l to -d 'A directory on this machine, or sftp://user@host[:port]/dir' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l from -d 'Nodes to take the sources from, first reachable wins (`node1,node2`), or `all`' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l include -d 'Only these sources (by name; repeatable or comma-separated)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l exclude -d 'Not these sources' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l passphrase-file -d 'A file holding the passphrase for --encrypt' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l recipient -d 'Encrypt to this age recipient (age1...; repeatable) instead of a passphrase' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l stall-timeout -d 'Give up on a node that sends nothing for this long (its link or its disk stalled)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l data-only -d 'Only the sources marked as data (no configuration)'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l gzip -d 'gzip instead of zstd'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l encrypt -d 'Encrypt with a passphrase (from --passphrase-file, PFCTL_BACKUP_PASSPHRASE or a prompt)'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -l prune -d 'Apply the profile\'s retention policy afterwards (keep_last / keep_daily / keep_weekly)'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l profile -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l to -d 'A directory on this machine, or sftp://user@host[:port]/dir' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l passphrase-file -d 'A file holding the passphrase (else PFCTL_BACKUP_PASSPHRASE, else a prompt on a terminal)' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l age-identity -d 'An age identity file (AGE-SECRET-KEY-1...) for backups encrypted to a recipient' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -l deep -d 'Also extract into a scratch directory and compare every file with the manifest'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -l profile -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -l to -d 'A directory on this machine, or sftp://user@host[:port]/dir' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -l keep-last -d 'Keep the N newest backups' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -l keep-daily -d 'Keep the newest backup of each of the last D days that have one' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -l keep-weekly -d 'Keep the newest backup of each of the last W ISO weeks that have one' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -l dry-run -d 'Show what would be deleted; delete nothing'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "create" -d 'Make a backup: `<cluster>-backup[-data-only]-<UTC time>.tar.zst[.age]` at the destination, written as `.partial` and renamed only when complete, with a catalogue record beside it'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "list" -d 'The backups at a destination: id, time, size, sources, verified'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Read a backup through and check the manifest and every checksum (`--deep`: also extract it into a scratch directory and compare). Names the damaged entry'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Delete the backups a retention policy does not keep (this cluster\'s only)'
complete -c pfctl -n "__fish_pfctl_using_subcommand backup; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -f -a "request" -d 'Write a license request (`<customer>_key.iskey`) naming this swarm (cluster id, node ids)'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -f -a "issue" -d 'Vendor side: sign a license for a request'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -f -a "keygen" -d 'Vendor side: a new signing key (`PREFIX.key`, mode 600) and its public key (`PREFIX.pub`)'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -f -a "install" -d 'Check a license (signer, signature, this cluster, expiry) and store it on every node'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -f -a "status" -d 'Customer, tier, expiry and days left; exit 0 green, 1 yellow (10 days or less), 2 red'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -f -a "remove" -d 'Remove the license from every node (each kept beside it as `.pfctl-prev`)'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and not __fish_seen_subcommand_from request issue keygen install status remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -l customer -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -l email -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -l out -d 'The request file (default: `<customer>_key.iskey` here)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -l platform-version -d 'The platform version to name (default: the profile\'s name)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -l profile -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from request" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -l signing-key -d 'The signing key `license keygen` made' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -l request -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -l tier -d 'standard, advanced or premium' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -l days -d 'Valid for this many days from now' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -l feature -d 'A feature to grant (repeatable)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -l out -d 'Where the license goes' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from issue" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -l out -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from keygen" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -l trust-key -d 'A vendor public key file to trust besides the built-in key (repeatable)' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -l profile -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from install" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -l trust-key -d 'A vendor public key file to trust besides the built-in key (repeatable)' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -l profile -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -l profile -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -s y -l yes
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from help" -f -a "request" -d 'Write a license request (`<customer>_key.iskey`) naming this swarm (cluster id, node ids)'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from help" -f -a "issue" -d 'Vendor side: sign a license for a request'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from help" -f -a "keygen" -d 'Vendor side: a new signing key (`PREFIX.key`, mode 600) and its public key (`PREFIX.pub`)'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from help" -f -a "install" -d 'Check a license (signer, signature, this cluster, expiry) and store it on every node'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from help" -f -a "status" -d 'Customer, tier, expiry and days left; exit 0 green, 1 yellow (10 days or less), 2 red'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove the license from every node (each kept beside it as `.pfctl-prev`)'
complete -c pfctl -n "__fish_pfctl_using_subcommand license; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -f -a "encrypt" -d 'Read a password (no echo; or one line on stdin) and print its Fernet token under the cluster\'s encryption_key. `--for-inventory`: a token for the inventory\'s `password_encrypted`, under the local key file (~/.config/pfctl/inventory.key, or $PFCTL_INVENTORY_KEY; made when missing)'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -f -a "set" -d 'Change the platform admin password on every manager: is_pass (and its backup copy under /opt/iservices/backup) written atomically and verified by hash, the Docker secret the services mount replaced by a new version, the services moved to it, the old one removed. Reads the password without echo (twice), or one line on stdin'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -f -a "decrypt" -d 'Print the password is_pass holds (or a token decrypts to); changes nothing'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and not __fish_seen_subcommand_from encrypt set decrypt help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -l profile -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -l for-inventory
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -l stdin -d 'Read the password from stdin even on a terminal'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from encrypt" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -l profile -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -l stdin -d 'Read the password from stdin even on a terminal'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -l token -d 'Decrypt this token instead of the node\'s is_pass' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -l profile -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from decrypt" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from help" -f -a "encrypt" -d 'Read a password (no echo; or one line on stdin) and print its Fernet token under the cluster\'s encryption_key. `--for-inventory`: a token for the inventory\'s `password_encrypted`, under the local key file (~/.config/pfctl/inventory.key, or $PFCTL_INVENTORY_KEY; made when missing)'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from help" -f -a "set" -d 'Change the platform admin password on every manager: is_pass (and its backup copy under /opt/iservices/backup) written atomically and verified by hash, the Docker secret the services mount replaced by a new version, the services moved to it, the old one removed. Reads the password without echo (twice), or one line on stdin'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from help" -f -a "decrypt" -d 'Print the password is_pass holds (or a token decrypts to); changes nothing'
complete -c pfctl -n "__fish_pfctl_using_subcommand password; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -f -a "plan" -d 'Show what an upgrade would change, in which order, and what stops; change nothing'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -f -a "apply" -d 'Upgrade: gates, backup, images on every node, then group by group'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -f -a "rollback" -d 'Put back the specs an upgrade run replaced, last group first'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and not __fish_seen_subcommand_from plan apply rollback help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -l compose -d 'The new compose file (the stack\'s services as they should be)' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -l images -d 'Offline: a `docker save` archive of the new images (gzip or zstd too); services running another tag of an image in it move to its tag' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -l url -d 'Online: fetch the images bundle from this URL (checked against --sha256)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -l sha256 -d 'The bundle\'s SHA-256 (required with --url; checked with --images when given)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -l profile -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from plan" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l compose -d 'The new compose file (the stack\'s services as they should be)' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l images -d 'Offline: a `docker save` archive of the new images (gzip or zstd too); services running another tag of an image in it move to its tag' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l url -d 'Online: fetch the images bundle from this URL (checked against --sha256)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l sha256 -d 'The bundle\'s SHA-256 (required with --url; checked with --images when given)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l profile -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l backup-to -d 'Where the run\'s backup goes (default: the profile\'s `[backup] destination`)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l until -d 'Stop after this phase (resumable with `pfctl resume RUN_ID`)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l yes -d 'Do not ask (needed without a terminal)'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l allow-warn -d 'Go on when the healthcheck only warns'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -l skip-backup -d 'Make no backup first (rollback --restore-data then has nothing to restore)'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from apply" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -l restore-data -d 'Restore the backup the upgrade made, too (stops the services that use the data)'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -l yes -d 'Do not ask (needed without a terminal)'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from rollback" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from help" -f -a "plan" -d 'Show what an upgrade would change, in which order, and what stops; change nothing'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from help" -f -a "apply" -d 'Upgrade: gates, backup, images on every node, then group by group'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from help" -f -a "rollback" -d 'Put back the specs an upgrade run replaced, last group first'
complete -c pfctl -n "__fish_pfctl_using_subcommand upgrade; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -l profile -r
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -l map -d 'Restore what the backup took from OLD onto NEW (repeatable: `--map node1=node4`)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -l passphrase-file -d 'A file holding the passphrase (else PFCTL_BACKUP_PASSPHRASE, else a prompt on a terminal)' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -l age-identity -d 'An age identity file (AGE-SECRET-KEY-1...) for backups encrypted to a recipient' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -l plan -d 'Show what goes where and which services stop; change nothing'
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -s y -l yes -d 'Do not ask (needed without a terminal)'
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -l data-only -d 'Only the data sources (for a cluster whose layout differs)'
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -l force -d 'Restore even though the cluster\'s encryption_key differs from the backup\'s (data encrypted with the other key becomes unreadable)'
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand restore" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -l last -d 'Entries to read from each node (its newest)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand audit" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -f -a "install" -d 'Copy pfagent to the nodes over SFTP, install it (keeping the previous binary as .prev and the state directory untouched), start it and check the version it answers with'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -f -a "status" -d 'Version, mode and uptime of the agent on each node'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and not __fish_seen_subcommand_from install status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -l binary -d 'The pfagent binary to install (default: the one beside this pfctl)' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from install" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from help" -f -a "install" -d 'Copy pfagent to the nodes over SFTP, install it (keeping the previous binary as .prev and the state directory untouched), start it and check the version it answers with'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from help" -f -a "status" -d 'Version, mode and uptime of the agent on each node'
complete -c pfctl -n "__fish_pfctl_using_subcommand agent; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -f -a "open" -d 'Open the profile\'s required ports on the selected nodes (only those still closed; the agents audit what they change)'
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and not __fish_seen_subcommand_from open help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -l profile -d 'Platform profile: powerflow, demo or a TOML file (default: the inventory\'s, else powerflow)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from open" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from help" -f -a "open" -d 'Open the profile\'s required ports on the selected nodes (only those still closed; the agents audit what they change)'
complete -c pfctl -n "__fish_pfctl_using_subcommand firewall; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -l profile -d 'Platform profile: powerflow, demo or a TOML file (default: the inventory\'s, else powerflow)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -l out -d 'Write the configuration to FILE (atomically; the previous one kept as FILE.prev) instead of stdout' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand haproxy-config" -s h -l help -d 'Print help'
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l action -r -f -a "facts\t''
healthcheck\t''
autoheal\t''
modify_iservices_volumes_owner\t'Owner and mode of the profile\'s secret files (root, 0600): autoheal limited to that'
open_firewall_ports\t'Open the swarm\'s and the profile\'s ports in each node\'s firewall (`pfctl firewall open`)'
generate_haproxy_config\t'An HAProxy configuration for the swarm\'s managers, on stdout (`pfctl haproxy-config`)'
upgrade\t'`pfctl upgrade apply` with `--upgrade_args offline BUNDLE | online URL`'"
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l profile -d 'Platform profile: powerflow, demo or a TOML file (default: the inventory\'s, else powerflow)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l fail-on -d 'Make warnings count as failures (exit 2), for strict CI gates' -r -f -a "warn\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l history -d 'List the last N runs the nodes remember (default 20, at most 100), newest first, instead of checking: time, run id, status, problems, controller' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l lock-wait -d 'With --cron: seconds to wait for another run to release the lock before giving up' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l notify -d 'POST the JSON report to this URL (3 attempts); a failure is reported on stderr and never changes the exit code. With --cron, only when something is wrong or changed. A URL with a token is better passed as PFCTL_NOTIFY_URL: arguments are visible to other local users' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l max-actions -d 'Apply at most this many actions; the rest are reported as skipped' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l source -d 'Copy drifted files from this node instead of from the majority. Secret files (encryption_key, is_pass) only with --force as well: data encrypted with another key becomes unreadable' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l keep-exited -d 'Stopped containers to keep per service (the newest), for diagnosis' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l upgrade_args -d '`--action upgrade`: `offline BUNDLE` (a `docker save` archive here) or `online URL` (with --sha256). Runs `pfctl upgrade apply`' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l sha256 -d '`--action upgrade`: the bundle\'s SHA-256 (required online)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l cron -d 'For crontabs: no prompts, colour or progress; one run at a time per cluster (a lock under $PFCTL_STATE_DIR, else $XDG_STATE_HOME/pfctl or ~/.local/state/pfctl); a last-run.json status file; output only when something is wrong or changed. Exit 75 when another run holds the lock'
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l dry-run -d 'Show the plan and change nothing'
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -s y -l yes -d 'Apply without asking (needed when there is no terminal to ask on)'
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -l force -d 'Act even when more than half the nodes are unreachable or their agent or engine failed'
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand node-action" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l action -r -f -a "facts\t''
healthcheck\t''
autoheal\t''
modify_iservices_volumes_owner\t'Owner and mode of the profile\'s secret files (root, 0600): autoheal limited to that'
open_firewall_ports\t'Open the swarm\'s and the profile\'s ports in each node\'s firewall (`pfctl firewall open`)'
generate_haproxy_config\t'An HAProxy configuration for the swarm\'s managers, on stdout (`pfctl haproxy-config`)'
upgrade\t'`pfctl upgrade apply` with `--upgrade_args offline BUNDLE | online URL`'"
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l profile -d 'Platform profile: powerflow, demo or a TOML file (default: the inventory\'s, else powerflow)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l fail-on -d 'Make warnings count as failures (exit 2), for strict CI gates' -r -f -a "warn\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l history -d 'List the last N runs the nodes remember (default 20, at most 100), newest first, instead of checking: time, run id, status, problems, controller' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l lock-wait -d 'With --cron: seconds to wait for another run to release the lock before giving up' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l notify -d 'POST the JSON report to this URL (3 attempts); a failure is reported on stderr and never changes the exit code. With --cron, only when something is wrong or changed. A URL with a token is better passed as PFCTL_NOTIFY_URL: arguments are visible to other local users' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l max-actions -d 'Apply at most this many actions; the rest are reported as skipped' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l source -d 'Copy drifted files from this node instead of from the majority. Secret files (encryption_key, is_pass) only with --force as well: data encrypted with another key becomes unreadable' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l keep-exited -d 'Stopped containers to keep per service (the newest), for diagnosis' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l upgrade_args -d '`--action upgrade`: `offline BUNDLE` (a `docker save` archive here) or `online URL` (with --sha256). Runs `pfctl upgrade apply`' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l sha256 -d '`--action upgrade`: the bundle\'s SHA-256 (required online)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -s i -l inventory -d 'Inventory file (TOML). Default: ./pfctl.toml, then ~/.config/pfctl/inventory.toml' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -s c -l cluster -d 'Cluster of the inventory to act on (default: its default_cluster, or its only cluster)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l host -d 'A node to act on, instead of the inventory\'s cluster: [USER@]HOST[:PORT], repeatable. The original form `--host HOST USER:PASS` is accepted too' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -s l -l limit -d 'Only these nodes: names, addresses or groups, globs allowed, `!` to exclude; comma separated' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l parallel -d 'How many nodes to work on at once' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l connect-timeout -d 'Seconds to wait for a node\'s SSH connection (TCP, key exchange and authentication)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l timeout -d 'Seconds one node may take in all before it is reported and left behind' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l host-key-checking -d 'Host key policy: strict (unknown or changed keys refused) or accept-new (record unknown keys)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l ssh-config -d 'OpenSSH client config to honour (Host, HostName, User, Port, IdentityFile, ProxyJump, ...)' -r
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l identity -d 'Private key to log in with (repeatable); replaces the inventory\'s and ssh config\'s' -r -F
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -s o -l output -d 'Output format (default: table on a terminal, plain otherwise)' -r -f -a "table\t''
json\t''
ndjson\t''
plain\t''
junit\t''"
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l cron -d 'For crontabs: no prompts, colour or progress; one run at a time per cluster (a lock under $PFCTL_STATE_DIR, else $XDG_STATE_HOME/pfctl or ~/.local/state/pfctl); a last-run.json status file; output only when something is wrong or changed. Exit 75 when another run holds the lock'
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l dry-run -d 'Show the plan and change nothing'
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -s y -l yes -d 'Apply without asking (needed when there is no terminal to ask on)'
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -l force -d 'Act even when more than half the nodes are unreachable or their agent or engine failed'
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -s k -l ask-pass -d 'Ask once for the SSH password (used for every node); PFCTL_PASSWORD does the same for scripts'
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -s v -l verbose -d 'More diagnostics on stderr (repeat for more); RUST_LOG works too'
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -s q -l quiet -d 'No progress display'
complete -c pfctl -n "__fish_pfctl_using_subcommand cluster-action" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "facts" -d 'Show what each node\'s agent reports: OS, CPU, memory, disks, clock, Docker and swarm'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "healthcheck" -d 'Check the cluster: nodes, engines, swarm, stack, files, clocks, connectivity, endpoints'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "autoheal" -d 'Fix what healthcheck finds: show a plan, apply it (asking first), check again and report per action fixed, not fixed, skipped or failed. Problems without a safe fix get a recipe'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "autocluster" -d 'Turn the inventory\'s nodes into a running, verified cluster: preflight, confirmation, firewall, swarm (3, 5 or 7 managers; `--workers N` more as workers), labels, images, configuration, stack deploy, convergence and a healthcheck. Journaled: `pfctl resume RUN_ID` continues a run that stopped'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "resume" -d 'Continue an operation run (autocluster) that stopped, from its first phase not done'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "backup" -d 'Back up what a restore needs (the profile\'s files and volumes) into one verified archive; list, verify and prune the archives at a destination'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "license" -d 'Licenses: request one for this cluster, install it on every node, show its status; and, vendor side, make signing keys and issue licenses'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "password" -d 'The platform\'s password tokens: encrypt a password with the cluster\'s encryption_key (Fernet, as the platform reads it), or print what is_pass (or a token) decrypts to'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "upgrade" -d 'Upgrade the stack: `plan` shows per service what changes, in which order, what rolls without downtime and what stops, and the quorum analysis; `apply` gates (healthcheck, a verified backup, the images on every node), then rolls group by group with a health gate after each, journaled (`pfctl resume RUN_ID`); `rollback RUN_ID` puts the previous specs back'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "restore" -d 'Put a backup back: shows the plan, asks, stops the services using what it writes, writes atomically (replaced files kept as `.pfctl-prev`), restarts them and runs healthcheck'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "audit" -d 'What the agents did on request (autoheal\'s actions), per node and cluster-wide, newest first'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "agent" -d 'Install, upgrade or inspect pfagent on the nodes'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "firewall" -d 'Let the ports the cluster needs (the swarm\'s and the profile\'s) in through each node\'s firewall: firewalld where it runs, else nftables. Same as `node-action --action open_firewall_ports`'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "haproxy-config" -d 'An HAProxy configuration balancing the profile\'s ports (powerflow: 80/443, 5556, 3141) over the swarm\'s managers, round robin with health checks. Same as `cluster-action --action generate_haproxy_config`'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "node-action" -d 'The original per-node form: `node-action --action facts`'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "cluster-action" -d 'The original cluster form: `cluster-action --action facts`'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and not __fish_seen_subcommand_from facts healthcheck autoheal autocluster resume backup license password upgrade restore audit agent firewall haproxy-config node-action cluster-action help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "create" -d 'Make a backup: `<cluster>-backup[-data-only]-<UTC time>.tar.zst[.age]` at the destination, written as `.partial` and renamed only when complete, with a catalogue record beside it'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "list" -d 'The backups at a destination: id, time, size, sources, verified'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "verify" -d 'Read a backup through and check the manifest and every checksum (`--deep`: also extract it into a scratch directory and compare). Names the damaged entry'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from backup" -f -a "prune" -d 'Delete the backups a retention policy does not keep (this cluster\'s only)'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from license" -f -a "request" -d 'Write a license request (`<customer>_key.iskey`) naming this swarm (cluster id, node ids)'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from license" -f -a "issue" -d 'Vendor side: sign a license for a request'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from license" -f -a "keygen" -d 'Vendor side: a new signing key (`PREFIX.key`, mode 600) and its public key (`PREFIX.pub`)'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from license" -f -a "install" -d 'Check a license (signer, signature, this cluster, expiry) and store it on every node'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from license" -f -a "status" -d 'Customer, tier, expiry and days left; exit 0 green, 1 yellow (10 days or less), 2 red'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from license" -f -a "remove" -d 'Remove the license from every node (each kept beside it as `.pfctl-prev`)'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from password" -f -a "encrypt" -d 'Read a password (no echo; or one line on stdin) and print its Fernet token under the cluster\'s encryption_key. `--for-inventory`: a token for the inventory\'s `password_encrypted`, under the local key file (~/.config/pfctl/inventory.key, or $PFCTL_INVENTORY_KEY; made when missing)'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from password" -f -a "set" -d 'Change the platform admin password on every manager: is_pass (and its backup copy under /opt/iservices/backup) written atomically and verified by hash, the Docker secret the services mount replaced by a new version, the services moved to it, the old one removed. Reads the password without echo (twice), or one line on stdin'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from password" -f -a "decrypt" -d 'Print the password is_pass holds (or a token decrypts to); changes nothing'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from upgrade" -f -a "plan" -d 'Show what an upgrade would change, in which order, and what stops; change nothing'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from upgrade" -f -a "apply" -d 'Upgrade: gates, backup, images on every node, then group by group'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from upgrade" -f -a "rollback" -d 'Put back the specs an upgrade run replaced, last group first'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from agent" -f -a "install" -d 'Copy pfagent to the nodes over SFTP, install it (keeping the previous binary as .prev and the state directory untouched), start it and check the version it answers with'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from agent" -f -a "status" -d 'Version, mode and uptime of the agent on each node'
complete -c pfctl -n "__fish_pfctl_using_subcommand help; and __fish_seen_subcommand_from firewall" -f -a "open" -d 'Open the profile\'s required ports on the selected nodes (only those still closed; the agents audit what they change)'
