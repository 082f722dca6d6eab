# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_tokenctl_global_optspecs
    string join \n db= q/quiet color= h/help V/version
end

function __fish_tokenctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_tokenctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_tokenctl_using_subcommand
    set -l cmd (__fish_tokenctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c tokenctl -n "__fish_tokenctl_needs_command" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_needs_command" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_needs_command" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -f -a "create" -d 'Create a token and print its secret, once'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -f -a "list" -d 'List tokens'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -f -a "show" -d 'Show one token: metadata, usage and history (never the secret)'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -f -a "revoke" -d 'Revoke a token: it stops working on the very next request'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -f -a "rotate" -d 'Replace a token with a new one, letting the old one work for a grace period'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -f -a "audit" -d 'Audit usage: requests, source IPs and anomaly flags'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -f -a "verify" -d 'Check a token, as the API would: exit 0 allowed, 3 unauthenticated, 4 forbidden'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -f -a "serve" -d 'Run the forward-auth endpoint for nginx, Caddy, Traefik or Envoy'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -f -a "config" -d 'Show or change the database\'s settings'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -f -a "prune" -d 'Delete old usage counters (tokens and events are kept)'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -f -a "scan" -d 'Find leaked tokens in files and git history, and revoke them'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -f -a "completions" -d 'Print the completion script for bash, zsh, fish, elvish or PowerShell'
complete -c tokenctl -n "__fish_tokenctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand create" -l name -d 'What the token is for, such as the integration\'s name' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand create" -l scope -d 'A grant, <module>:<read|write|delete>; repeat or separate with commas' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand create" -l expires -d 'Duration (12h, 30d, 6w, 1y), date (2027-03-01), RFC 3339 time, or \'never\' [default: setting default_lifetime]' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand create" -l env -d 'Environment the token works in (live, test, ...) [default: live]' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand create" -l allow-ip -d 'Only clients in this network may use the token (IPv4 or IPv6 CIDR or address); repeat or separate with commas' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand create" -l description -d 'A longer note about the token' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand create" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand create" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand create" -l unrestricted -d 'Allow the all-powerful scope *:delete'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand create" -l json -d 'Print the token and its metadata as JSON'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand create" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand create" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand list" -l status -d 'Which tokens to show' -r -f -a "active\t'Neither expired nor revoked'
expired\t'Past their expiry, not revoked'
revoked\t'Revoked'
all\t'Every token'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand list" -l env -d 'Only tokens of this environment' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand list" -l expiring-within -d 'Only tokens that expire within this duration' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand list" -l unused-for -d 'Only tokens not used for this long (never-used tokens count from their creation)' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand list" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand list" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand list" -l json -d 'Print as JSON'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand list" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand list" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand show" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand show" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand show" -l json -d 'Print as JSON'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand show" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand show" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand revoke" -l reason -d 'Why, for the history' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand revoke" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand revoke" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand revoke" -s y -l yes -d 'Do not ask for confirmation'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand revoke" -l json -d 'Print the revoked token as JSON'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand revoke" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand revoke" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand revoke" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand rotate" -l grace -d 'How long the old token keeps working; 0 revokes it now' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand rotate" -l expires -d 'Expiry of the new token [default: the old token\'s lifetime, else default_lifetime]' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand rotate" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand rotate" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand rotate" -l json -d 'Print the new token and its metadata as JSON'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand rotate" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand rotate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand rotate" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand audit" -l since -d 'The window to report on' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand audit" -l by -d 'For one token: only the per-IP or only the per-day breakdown' -r -f -a "ip\t'One row per source IP address'
day\t'One row per day'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand audit" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand audit" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand audit" -l anomalies -d 'Only tokens with anomaly flags'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand audit" -l events -d 'Show the admin event log of the window instead of usage'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand audit" -l check -d 'Exit 1 when any anomaly is flagged (for cron)'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand audit" -l json -d 'Print as JSON'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand audit" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand audit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand audit" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand verify" -l scope -d 'The scope the request needs, <module>:<read|write|delete>' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand verify" -l ip -d 'The client\'s IP address, checked against the token\'s allowed networks' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand verify" -l env -d 'The environment this check runs in; tokens of other environments are refused' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand verify" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand verify" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand verify" -l no-record -d 'Do not record this use'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand verify" -l json -d 'Print the decision as JSON'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand verify" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand verify" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand serve" -l listen -d 'Address to listen on: IPv4 or [IPv6] with a port (port 0 picks a free one)' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand serve" -l env -d 'The environment this server accepts tokens of; tokens of others are denied (403)' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand serve" -l rules -d 'TOML file mapping methods and paths to the scope they need; the first matching rule wins and unmapped requests are denied [default: the /api/<module>/ convention]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand serve" -l trust-proxy -d 'Proxies whose X-Real-IP and X-Forwarded-For are believed (CIDR or address); repeat or separate with commas' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand serve" -l ambiguous-uris -d 'What to do with an original URI that servers can read differently (dot segments in any spelling, encoded \'/\' or \'\\\\\', \';\' parameters, \'//\', control bytes, double or needless encoding, mixed case that maps otherwise): deny it, or, only when the proxy passes the upstream a path it normalised itself, decide on that normalised path' -r -f -a "deny\t'Deny (403) and count in /metrics'
normalize\t'Percent-decode, merge \'//\' and resolve \'.\' and \'..\' as nginx does, then decide'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand serve" -l header-timeout -d 'Close a connection that has not sent a whole request head this long after it opened or after the request\'s first byte (500ms, 5s, 1m)' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand serve" -l idle-timeout -d 'Close a keep-alive connection idle this long between requests; keep a proxy\'s own idle timeout (nginx upstream keepalive_timeout) below it' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand serve" -l max-connections -d 'Connections held at once; when all are taken, a new one closes the oldest connection not in the middle of a request, of the address holding the most' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand serve" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand serve" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand serve" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand serve" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and not __fish_seen_subcommand_from list get set help" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and not __fish_seen_subcommand_from list get set help" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and not __fish_seen_subcommand_from list get set help" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and not __fish_seen_subcommand_from list get set help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and not __fish_seen_subcommand_from list get set help" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and not __fish_seen_subcommand_from list get set help" -f -a "list" -d 'Every setting with its value, default and meaning'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and not __fish_seen_subcommand_from list get set help" -f -a "get" -d 'Print one setting\'s value'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and not __fish_seen_subcommand_from list get set help" -f -a "set" -d 'Change one setting (validated; logged in the event log)'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and not __fish_seen_subcommand_from list get set help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from list" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from list" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from list" -l json -d 'Print as JSON'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from get" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from get" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from get" -l json -d 'Print as JSON'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from get" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from get" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from set" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from set" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from set" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from set" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "list" -d 'Every setting with its value, default and meaning'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "get" -d 'Print one setting\'s value'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "set" -d 'Change one setting (validated; logged in the event log)'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand prune" -l usage-older-than -d 'Age of the usage to delete [default: setting usage_retention]' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand prune" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand prune" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand prune" -l dry-run -d 'Only say what would be deleted'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand prune" -l json -d 'Print the counts as JSON'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand prune" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand prune" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand scan" -l max-size -d 'Skip files and blobs larger than this (K, M, G: powers of 1024)' -r
complete -c tokenctl -n "__fish_tokenctl_using_subcommand scan" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand scan" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand scan" -l git -d 'Also search the git history of the repositories holding the PATHs, and the text files in their .git directories'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand scan" -l stdin -d 'Search standard input instead of files (for pipelines and hooks)'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand scan" -l revoke -d 'Revoke every active token found, with the reason \'leaked: <where>\''
complete -c tokenctl -n "__fish_tokenctl_using_subcommand scan" -l strict -d 'Exit 1 for tokens this database does not know, too (they may be live in another)'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand scan" -l json -d 'Print the findings as JSON'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand scan" -l gitleaks-rule -d 'Print a gitleaks rule (TOML) for this database\'s token prefix instead of searching'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand scan" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand scan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand scan" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand completions" -l db -d 'Database file [default: ~/.local/share/tokenctl/tokens.db]' -r -F
complete -c tokenctl -n "__fish_tokenctl_using_subcommand completions" -l color -d 'When to use colours (NO_COLOR turns off \'auto\')' -r -f -a "auto\t'Colours on a terminal, unless NO_COLOR is set or TERM is dumb'
always\t'Colours even into a pipe or file'
never\t'No colours'"
complete -c tokenctl -n "__fish_tokenctl_using_subcommand completions" -s q -l quiet -d 'Print only data and errors, no notices'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand completions" -s V -l version -d 'Print version'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and not __fish_seen_subcommand_from create list show revoke rotate audit verify serve config prune scan completions help" -f -a "create" -d 'Create a token and print its secret, once'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and not __fish_seen_subcommand_from create list show revoke rotate audit verify serve config prune scan completions help" -f -a "list" -d 'List tokens'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and not __fish_seen_subcommand_from create list show revoke rotate audit verify serve config prune scan completions help" -f -a "show" -d 'Show one token: metadata, usage and history (never the secret)'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and not __fish_seen_subcommand_from create list show revoke rotate audit verify serve config prune scan completions help" -f -a "revoke" -d 'Revoke a token: it stops working on the very next request'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and not __fish_seen_subcommand_from create list show revoke rotate audit verify serve config prune scan completions help" -f -a "rotate" -d 'Replace a token with a new one, letting the old one work for a grace period'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and not __fish_seen_subcommand_from create list show revoke rotate audit verify serve config prune scan completions help" -f -a "audit" -d 'Audit usage: requests, source IPs and anomaly flags'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and not __fish_seen_subcommand_from create list show revoke rotate audit verify serve config prune scan completions help" -f -a "verify" -d 'Check a token, as the API would: exit 0 allowed, 3 unauthenticated, 4 forbidden'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and not __fish_seen_subcommand_from create list show revoke rotate audit verify serve config prune scan completions help" -f -a "serve" -d 'Run the forward-auth endpoint for nginx, Caddy, Traefik or Envoy'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and not __fish_seen_subcommand_from create list show revoke rotate audit verify serve config prune scan completions help" -f -a "config" -d 'Show or change the database\'s settings'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and not __fish_seen_subcommand_from create list show revoke rotate audit verify serve config prune scan completions help" -f -a "prune" -d 'Delete old usage counters (tokens and events are kept)'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and not __fish_seen_subcommand_from create list show revoke rotate audit verify serve config prune scan completions help" -f -a "scan" -d 'Find leaked tokens in files and git history, and revoke them'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and not __fish_seen_subcommand_from create list show revoke rotate audit verify serve config prune scan completions help" -f -a "completions" -d 'Print the completion script for bash, zsh, fish, elvish or PowerShell'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and not __fish_seen_subcommand_from create list show revoke rotate audit verify serve config prune scan completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "list" -d 'Every setting with its value, default and meaning'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "get" -d 'Print one setting\'s value'
complete -c tokenctl -n "__fish_tokenctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "set" -d 'Change one setting (validated; logged in the event log)'
