
use builtin;
use str;

set edit:completion:arg-completer[tokenctl] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'tokenctl'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'tokenctl'= {
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand create 'Create a token and print its secret, once'
            cand list 'List tokens'
            cand show 'Show one token: metadata, usage and history (never the secret)'
            cand revoke 'Revoke a token: it stops working on the very next request'
            cand rotate 'Replace a token with a new one, letting the old one work for a grace period'
            cand audit 'Audit usage: requests, source IPs and anomaly flags'
            cand verify 'Check a token, as the API would: exit 0 allowed, 3 unauthenticated, 4 forbidden'
            cand serve 'Run the forward-auth endpoint for nginx, Caddy, Traefik or Envoy'
            cand config 'Show or change the database''s settings'
            cand prune 'Delete old usage counters (tokens and events are kept)'
            cand scan 'Find leaked tokens in files and git history, and revoke them'
            cand completions 'Print the completion script for bash, zsh, fish, elvish or PowerShell'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'tokenctl;create'= {
            cand --name 'What the token is for, such as the integration''s name'
            cand --scope 'A grant, <module>:<read|write|delete>; repeat or separate with commas'
            cand --expires 'Duration (12h, 30d, 6w, 1y), date (2027-03-01), RFC 3339 time, or ''never'' [default: setting default_lifetime]'
            cand --env 'Environment the token works in (live, test, ...) [default: live]'
            cand --allow-ip 'Only clients in this network may use the token (IPv4 or IPv6 CIDR or address); repeat or separate with commas'
            cand --description 'A longer note about the token'
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand --unrestricted 'Allow the all-powerful scope *:delete'
            cand --json 'Print the token and its metadata as JSON'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tokenctl;list'= {
            cand --status 'Which tokens to show'
            cand --env 'Only tokens of this environment'
            cand --expiring-within 'Only tokens that expire within this duration'
            cand --unused-for 'Only tokens not used for this long (never-used tokens count from their creation)'
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand --json 'Print as JSON'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tokenctl;show'= {
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand --json 'Print as JSON'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tokenctl;revoke'= {
            cand --reason 'Why, for the history'
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand -y 'Do not ask for confirmation'
            cand --yes 'Do not ask for confirmation'
            cand --json 'Print the revoked token as JSON'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tokenctl;rotate'= {
            cand --grace 'How long the old token keeps working; 0 revokes it now'
            cand --expires 'Expiry of the new token [default: the old token''s lifetime, else default_lifetime]'
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand --json 'Print the new token and its metadata as JSON'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tokenctl;audit'= {
            cand --since 'The window to report on'
            cand --by 'For one token: only the per-IP or only the per-day breakdown'
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand --anomalies 'Only tokens with anomaly flags'
            cand --events 'Show the admin event log of the window instead of usage'
            cand --check 'Exit 1 when any anomaly is flagged (for cron)'
            cand --json 'Print as JSON'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tokenctl;verify'= {
            cand --scope 'The scope the request needs, <module>:<read|write|delete>'
            cand --ip 'The client''s IP address, checked against the token''s allowed networks'
            cand --env 'The environment this check runs in; tokens of other environments are refused'
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand --no-record 'Do not record this use'
            cand --json 'Print the decision as JSON'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tokenctl;serve'= {
            cand --listen 'Address to listen on: IPv4 or [IPv6] with a port (port 0 picks a free one)'
            cand --env 'The environment this server accepts tokens of; tokens of others are denied (403)'
            cand --rules 'TOML file mapping methods and paths to the scope they need; the first matching rule wins and unmapped requests are denied [default: the /api/<module>/ convention]'
            cand --trust-proxy 'Proxies whose X-Real-IP and X-Forwarded-For are believed (CIDR or address); repeat or separate with commas'
            cand --ambiguous-uris 'What to do with an original URI that servers can read differently (dot segments in any spelling, encoded ''/'' or ''\\'', '';'' parameters, ''//'', control bytes, double or needless encoding, mixed case that maps otherwise): deny it, or, only when the proxy passes the upstream a path it normalised itself, decide on that normalised path'
            cand --header-timeout 'Close a connection that has not sent a whole request head this long after it opened or after the request''s first byte (500ms, 5s, 1m)'
            cand --idle-timeout 'Close a keep-alive connection idle this long between requests; keep a proxy''s own idle timeout (nginx upstream keepalive_timeout) below it'
            cand --max-connections 'Connections held at once; when all are taken, a new one closes the oldest connection not in the middle of a request, of the address holding the most'
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tokenctl;config'= {
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand list 'Every setting with its value, default and meaning'
            cand get 'Print one setting''s value'
            cand set 'Change one setting (validated; logged in the event log)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'tokenctl;config;list'= {
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand --json 'Print as JSON'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tokenctl;config;get'= {
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand --json 'Print as JSON'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tokenctl;config;set'= {
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tokenctl;config;help'= {
            cand list 'Every setting with its value, default and meaning'
            cand get 'Print one setting''s value'
            cand set 'Change one setting (validated; logged in the event log)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'tokenctl;config;help;list'= {
        }
        &'tokenctl;config;help;get'= {
        }
        &'tokenctl;config;help;set'= {
        }
        &'tokenctl;config;help;help'= {
        }
        &'tokenctl;prune'= {
            cand --usage-older-than 'Age of the usage to delete [default: setting usage_retention]'
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand --dry-run 'Only say what would be deleted'
            cand --json 'Print the counts as JSON'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tokenctl;scan'= {
            cand --max-size 'Skip files and blobs larger than this (K, M, G: powers of 1024)'
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand --git 'Also search the git history of the repositories holding the PATHs, and the text files in their .git directories'
            cand --stdin 'Search standard input instead of files (for pipelines and hooks)'
            cand --revoke 'Revoke every active token found, with the reason ''leaked: <where>'''
            cand --strict 'Exit 1 for tokens this database does not know, too (they may be live in another)'
            cand --json 'Print the findings as JSON'
            cand --gitleaks-rule 'Print a gitleaks rule (TOML) for this database''s token prefix instead of searching'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tokenctl;completions'= {
            cand --db 'Database file [default: ~/.local/share/tokenctl/tokens.db]'
            cand --color 'When to use colours (NO_COLOR turns off ''auto'')'
            cand -q 'Print only data and errors, no notices'
            cand --quiet 'Print only data and errors, no notices'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tokenctl;help'= {
            cand create 'Create a token and print its secret, once'
            cand list 'List tokens'
            cand show 'Show one token: metadata, usage and history (never the secret)'
            cand revoke 'Revoke a token: it stops working on the very next request'
            cand rotate 'Replace a token with a new one, letting the old one work for a grace period'
            cand audit 'Audit usage: requests, source IPs and anomaly flags'
            cand verify 'Check a token, as the API would: exit 0 allowed, 3 unauthenticated, 4 forbidden'
            cand serve 'Run the forward-auth endpoint for nginx, Caddy, Traefik or Envoy'
            cand config 'Show or change the database''s settings'
            cand prune 'Delete old usage counters (tokens and events are kept)'
            cand scan 'Find leaked tokens in files and git history, and revoke them'
            cand completions 'Print the completion script for bash, zsh, fish, elvish or PowerShell'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'tokenctl;help;create'= {
        }
        &'tokenctl;help;list'= {
        }
        &'tokenctl;help;show'= {
        }
        &'tokenctl;help;revoke'= {
        }
        &'tokenctl;help;rotate'= {
        }
        &'tokenctl;help;audit'= {
        }
        &'tokenctl;help;verify'= {
        }
        &'tokenctl;help;serve'= {
        }
        &'tokenctl;help;config'= {
            cand list 'Every setting with its value, default and meaning'
            cand get 'Print one setting''s value'
            cand set 'Change one setting (validated; logged in the event log)'
        }
        &'tokenctl;help;config;list'= {
        }
        &'tokenctl;help;config;get'= {
        }
        &'tokenctl;help;config;set'= {
        }
        &'tokenctl;help;prune'= {
        }
        &'tokenctl;help;scan'= {
        }
        &'tokenctl;help;completions'= {
        }
        &'tokenctl;help;help'= {
        }
    ]
    $completions[$command]
}
