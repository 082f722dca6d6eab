//! The interactive paths, in a real terminal: tmux runs tokenctl, the test types.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::TestEnv;

struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` in a detached 120x40 session with the test environment.
    fn start(env: &TestEnv, command: &str) -> Tmux {
        Tmux::start_sized(env, command, 120)
    }

    /// The same, `columns` wide.
    fn start_sized(env: &TestEnv, command: &str, columns: u16) -> Tmux {
        let socket = format!("tokenctl-test-{}-{:?}", std::process::id(), Instant::now());
        let socket: String = socket.chars().filter(char::is_ascii_alphanumeric).collect();
        let cmd = env.std_cmd();
        let mut exports = String::new();
        for (k, v) in cmd.get_envs() {
            if let (Some(k), Some(v)) = (k.to_str(), v.and_then(|v| v.to_str())) {
                exports.push_str(&format!("export {k}='{v}'; "));
            }
        }
        let bin = assert_cmd::cargo::cargo_bin("tokenctl");
        let script = format!(
            "{exports}export TERM=xterm-256color; cd '{}'; '{}' {command}; echo \"@@exit $?@@\"; sleep 60",
            env.dir().display(),
            bin.display()
        );
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                &columns.to_string(),
                "-y",
                "40",
                "sh",
                "-c",
                &script,
            ])
            .status()
            .unwrap();
        assert!(status.success());
        Tmux { socket }
    }

    /// Whether the terminal shows its cursor (DECTCEM), as tmux tracks it.
    fn cursor_visible(&self) -> bool {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "display-message",
                "-p",
                "#{cursor_flag}",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (generously: this detects a hang, it measures nothing) for `text` on screen.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {text:?}; the screen shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["-L", self.socket.as_str(), "send-keys"];
        args.extend_from_slice(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
        // Let the program read one batch of keys before the next.
        std::thread::sleep(Duration::from_millis(150));
    }

    fn text(&self, text: &str) {
        let args = ["-L", self.socket.as_str(), "send-keys", "-l", text];
        assert!(Command::new("tmux").args(args).status().unwrap().success());
        std::thread::sleep(Duration::from_millis(150));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn create_asks_for_what_is_missing() {
    if !crate::tools::available("tmux", "prompts::create_asks_for_what_is_missing") {
        return;
    }
    let env = TestEnv::new();
    env.run(&["config", "set", "modules", "cases,invoices"])
        .success();
    let secret_file = env.dir().join("secret.txt");
    let t = Tmux::start(&env, &format!("create > '{}'", secret_file.display()));
    t.wait_for("Name");
    t.text("Nightly import");
    t.keys(&["Enter"]);
    t.wait_for("Modules");
    t.keys(&["Space"]); // cases
    t.keys(&["Enter"]);
    t.wait_for("Access to cases");
    t.keys(&["Down"]); // write
    t.keys(&["Enter"]);
    t.wait_for("Expires in");
    t.keys(&["Enter"]); // the default, 90d
    t.wait_for("Environment");
    t.text("test");
    t.keys(&["Enter"]);
    let screen = t.wait_for("@@exit");
    assert!(screen.contains("@@exit 0@@"), "{screen}");
    assert!(screen.contains("only time"), "{screen}");
    let secret = read(&secret_file);
    assert!(
        tokenctl::token::parse(secret.trim_end()).is_ok(),
        "{secret:?}"
    );
    assert!(
        !screen.contains(secret.trim_end()),
        "the secret went to the file, not the screen"
    );
    let v = env.run(&["list", "--json"]).success().json();
    assert_eq!(v[0]["name"], "Nightly import");
    assert_eq!(v[0]["scopes"], serde_json::json!(["cases:write"]));
    assert_eq!(v[0]["env"], "test");
}

#[test]
fn revoke_asks_for_confirmation() {
    if !crate::tools::available("tmux", "prompts::revoke_asks_for_confirmation") {
        return;
    }
    let env = TestEnv::new();
    let kept = env.create("kept", &["cases:read"], &[]);
    let t = Tmux::start(&env, &format!("revoke {}", kept.id));
    t.wait_for("Revoke token");
    t.keys(&["n"]);
    let screen = t.wait_for("@@exit");
    assert!(screen.contains("Nothing was revoked"), "{screen}");
    assert_eq!(env.show(&kept.id)["status"], "active");
    drop(t);

    let t = Tmux::start(&env, &format!("revoke {} --reason done", kept.id));
    t.wait_for("Revoke token");
    t.keys(&["y"]);
    let screen = t.wait_for("@@exit");
    assert!(screen.contains("@@exit 0@@"), "{screen}");
    assert_eq!(env.show(&kept.id)["status"], "revoked");
}

#[test]
fn verify_prompts_without_echo() {
    if !crate::tools::available("tmux", "prompts::verify_prompts_without_echo") {
        return;
    }
    let env = TestEnv::new();
    let made = env.create("x", &["cases:read"], &[]);
    let t = Tmux::start(&env, "verify");
    t.wait_for("Token");
    t.text(&made.secret);
    t.keys(&["Enter"]);
    let screen = t.wait_for("@@exit");
    assert!(
        screen.contains("@@exit 0@@") && screen.contains("allowed"),
        "{screen}"
    );
    assert!(
        !screen.contains(&made.secret),
        "the typed token was echoed:\n{screen}"
    );
}

/// Each answer is checked at its prompt: a refused one says why and is asked again.
#[test]
fn create_refuses_bad_answers_at_their_prompt() {
    if !crate::tools::available(
        "tmux",
        "prompts::create_refuses_bad_answers_at_their_prompt",
    ) {
        return;
    }
    let env = TestEnv::new();
    env.run(&["init"]).success();
    let t = Tmux::start(&env, "create > /dev/null");
    t.wait_for("Name");
    t.text("Nightly import");
    t.keys(&["Enter"]);
    t.wait_for("Scopes");
    t.text("*:delete");
    t.keys(&["Enter"]);
    t.wait_for("grants everything");
    t.text("cases:write");
    t.keys(&["Enter"]);
    t.wait_for("Expires in");
    // 30d, 90d (the default), 180d, 1y, custom
    t.keys(&["Down"]);
    t.keys(&["Down"]);
    t.keys(&["Down"]);
    t.keys(&["Enter"]);
    t.wait_for("Expires (duration");
    t.text("1000y");
    t.keys(&["Enter"]);
    t.wait_for("beyond the maximum lifetime");
    t.text("30d");
    t.keys(&["Enter"]);
    t.wait_for("Environment");
    t.keys(&["Enter"]);
    let screen = t.wait_for("@@exit");
    assert!(screen.contains("@@exit 0@@"), "{screen}");
    let v = env.run(&["list", "--json"]).success().json();
    assert_eq!(v[0]["scopes"], serde_json::json!(["cases:write"]));
    assert_eq!(v[0]["name"], "Nightly import");
}

/// Flags given on the command line are checked before anything is asked.
#[test]
fn create_checks_the_flags_before_prompting() {
    if !crate::tools::available("tmux", "prompts::create_checks_the_flags_before_prompting") {
        return;
    }
    let env = TestEnv::new();
    env.run(&["init"]).success();
    for flags in ["--scope '*:delete'", "--expires 1000y", "--name '  '"] {
        let t = Tmux::start(&env, &format!("create {flags}"));
        let screen = t.wait_for("@@exit");
        assert!(screen.contains("@@exit 2@@"), "{flags}: {screen}");
        assert!(
            !screen.contains("Name ("),
            "{flags} prompted first: {screen}"
        );
    }
}

/// Ctrl-C at a prompt that hides the cursor leaves the terminal with a cursor.
#[test]
fn ctrl_c_at_a_prompt_restores_the_cursor() {
    if !crate::tools::available("tmux", "prompts::ctrl_c_at_a_prompt_restores_the_cursor") {
        return;
    }
    let env = TestEnv::new();
    env.run(&["init"]).success();
    let t = Tmux::start(&env, "create --name interrupted");
    t.wait_for("Scopes");
    t.text("cases:read");
    t.keys(&["Enter"]);
    t.wait_for("Expires in");
    assert!(!t.cursor_visible(), "the list should hide the cursor");
    t.keys(&["C-c"]);
    let screen = t.wait_for("@@exit");
    assert!(screen.contains("@@exit 130@@"), "{screen}");
    assert!(t.cursor_visible(), "the cursor stayed hidden:\n{screen}");
    assert_eq!(
        env.run(&["list", "--json"]).success().json(),
        serde_json::json!([])
    );
}

/// In an 80-column terminal a table fits: no row is wrapped, long names are cut.
#[test]
fn tables_fit_an_eighty_column_terminal() {
    if !crate::tools::available("tmux", "prompts::tables_fit_an_eighty_column_terminal") {
        return;
    }
    let env = TestEnv::new();
    let long = env.create(
        "Nightly import of the case files from the old system",
        &["cases:write", "contacts:read", "documents:read"],
        &[],
    );
    let t = Tmux::start_sized(&env, "list", 80);
    let screen = t.wait_for("@@exit");
    let row = screen
        .lines()
        .find(|l| l.starts_with(&long.id))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(
        row.contains("Nightl…") && row.contains("+2") && row.ends_with("active"),
        "{screen}"
    );
    assert_eq!(
        screen.lines().filter(|l| l.contains("active")).count(),
        1,
        "{screen}"
    );
}
