//! Storage faults and crashes: a full disk, stray or missing -wal/-shm files, and SIGKILL
//! in the middle of writes. Each must end in a clear message, no corruption, and nothing
//! lost that was reported done.
//!
//! SQLite-only (`TestEnv::sqlite`): full disks, side files and crashes of the SQLite file.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::TestEnv;
use crate::stress::integrity;

fn side(env: &TestEnv, suffix: &str) -> std::path::PathBuf {
    let mut s = env.db().as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// Runs `script` in a private mount namespace where `$MNT` is a tmpfs of `size` (as
/// mount's `size=` option takes it), mode 0700: a disk that fills up without touching the
/// machine's. `None` when this kernel or sandbox does not allow the mount (then
/// `file_size_limit` still exercises a refused write); with CI=true that fails instead.
pub(crate) fn with_small_disk(
    env: &TestEnv,
    size: &str,
    script: &str,
) -> Option<std::process::Output> {
    if !crate::tools::available("unshare", "faults::with_small_disk") {
        return None;
    }
    let mnt = env.dir().join("small-disk");
    std::fs::create_dir_all(&mnt).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("tokenctl");
    let full = format!(
        "set -u\nmount -t tmpfs -o size={size},mode=0700 tmpfs '{mnt}' || exit 99\nMNT='{mnt}'\nT='{bin}'\nexport TOKENCTL_DB=\"$MNT/tokens.db\"\n{script}",
        mnt = mnt.display(),
        bin = bin.display()
    );
    // A user namespace works without privileges; as root a plain mount namespace does too.
    for flags in ["-rm", "-m"] {
        let out = Command::new("unshare")
            .args([flags, "bash", "-c", &full])
            .env("TZ", "UTC")
            .output()
            .unwrap();
        if out.status.code() != Some(99) {
            return Some(out);
        }
    }
    assert!(
        std::env::var("CI").is_err(),
        "could not mount a small tmpfs in a private mount namespace (unshare -rm or -m)"
    );
    eprintln!("notice: could not mount a small tmpfs here; skipped (see file_size_limit)");
    None
}

/// Without a small disk: a file size limit (RLIMIT_FSIZE) refuses the write instead. The
/// process must report it, not die of SIGXFSZ, and leave the database intact.
#[test]
fn file_size_limit() {
    let env = TestEnv::sqlite();
    env.create("before", &["cases:read"], &[]);
    let bin = assert_cmd::cargo::cargo_bin("tokenctl");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -f 8; exec '{}' create --name during --scope cases:read",
            bin.display()
        ))
        .env("TOKENCTL_DB", env.db())
        .env("HOME", env.dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("file size limit"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "a token was printed although nothing was stored"
    );
    assert_eq!(integrity(&env), "ok");
    let names: Vec<String> = env
        .run(&["list", "--json"])
        .success()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["before"]);
}

#[test]
fn disk_full() {
    let env = TestEnv::sqlite();
    // Fill the disk, then try to write; free it, and everything works again.
    let script = r#"
"$T" -q create --name before --scope cases:read > /dev/null || exit 10
# Leave room for SQLite's 32 KiB shared-memory file but not for the write itself.
avail=$(df --output=avail -B1 "$MNT" | tail -1)
head -c $((avail - 36 * 1024)) /dev/zero > "$MNT/filler"
if "$T" create --name during --scope cases:read --description "$(head -c 900 /dev/zero | tr '\0' x)" > "$MNT/../out" 2> "$MNT/../err"; then
  # A write small enough to fit the last free pages: fill more.
  for i in $(seq 1 50); do "$T" -q create --name "during-$i" --scope cases:read > /dev/null 2>> "$MNT/../err" || break; done
fi
echo "---stderr"; cat "$MNT/../err"
rm "$MNT/filler"
echo "---after"
"$T" list --status all --json | grep -c '"name"'
"$T" -q create --name after --scope cases:read > /dev/null && echo created-after
sqlite3 "$TOKENCTL_DB" 'PRAGMA integrity_check' 2>/dev/null || echo "(no sqlite3)"
"#;
    let Some(out) = with_small_disk(&env, "2m", script) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    eprintln!("{stdout}");
    let errors = stdout
        .split("---stderr")
        .nth(1)
        .unwrap()
        .split("---after")
        .next()
        .unwrap();
    assert!(
        errors.contains("error:"),
        "the disk never filled up:\n{stdout}"
    );
    assert!(
        errors.contains("disk is full"),
        "unclear message:\n{errors}"
    );
    assert!(
        errors.contains("hint:") || errors.contains("rolled back"),
        "{errors}"
    );
    assert!(stdout.contains("created-after"), "{stdout}");
    assert!(
        !stdout.contains("(no sqlite3)") && stdout.trim_end().ends_with("ok"),
        "{stdout}"
    );
}

#[test]
fn stray_side_files_are_harmless() {
    let env = TestEnv::sqlite();
    let t = env.create("kept", &["cases:read"], &[]);
    // Garbage where SQLite keeps its write-ahead log and shared index.
    std::fs::write(side(&env, "-wal"), vec![0x5a; 10_000]).unwrap();
    std::fs::write(side(&env, "-shm"), vec![0xa5; 32_768]).unwrap();
    let v = env.show(&t.id);
    assert_eq!(v["status"], "active");
    assert_eq!(env.verify(&t.secret, &[]).0, 0);
    env.create("next", &["cases:read"], &[]);
    assert_eq!(integrity(&env), "ok");
}

#[test]
fn missing_side_files_after_a_clean_exit() {
    let env = TestEnv::sqlite();
    let t = env.create("kept", &["cases:read"], &[]);
    env.run(&["revoke", &t.id, "--yes"]).success();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(side(&env, suffix));
    }
    assert_eq!(env.show(&t.id)["status"], "revoked");
    assert_eq!(integrity(&env), "ok");
}

/// A small deterministic generator for kill delays, so a failure can be replayed.
pub(crate) struct Dice(pub(crate) u64);

impl Dice {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Runs `args`, SIGKILLs it after `delay` unless it finished first. Returns the output if
/// it finished on its own.
fn run_or_kill(env: &TestEnv, args: &[&str], delay: Duration) -> Option<std::process::Output> {
    let mut child = env
        .std_cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + delay;
    loop {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// SIGKILL `create` and `revoke` at random points, 60 times: the database stays intact,
/// every token whose creation was reported exists, every revocation that returned holds.
#[test]
fn sigkill_during_cli_writes() {
    let seed = 0x7ac0_c7a1_u64;
    let mut dice = Dice(seed);
    let env = TestEnv::sqlite();
    let base = env.create("base", &["cases:read"], &[]);
    let mut created: Vec<String> = vec![base.id.clone()];
    let mut revoked: Vec<String> = Vec::new();
    let mut kills = 0;
    let mut round = 0;
    while kills < 60 {
        round += 1;
        assert!(
            round < 2_000,
            "could not kill often enough (seed {seed:#x})"
        );
        let delay = Duration::from_micros(dice.below(40_000));
        if dice.below(2) == 0 || created.len() <= revoked.len() + 1 {
            let name = format!("c{round}");
            match run_or_kill(
                &env,
                &["create", "--name", &name, "--scope", "cases:read", "--json"],
                delay,
            ) {
                Some(out) => {
                    assert!(
                        out.status.success(),
                        "round {round}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                    created.push(v["id"].as_str().unwrap().to_string());
                }
                None => kills += 1,
            }
        } else {
            let target = created
                .iter()
                .find(|id| !revoked.contains(id))
                .unwrap()
                .clone();
            match run_or_kill(&env, &["revoke", &target, "--yes"], delay) {
                Some(out) => {
                    assert!(
                        out.status.success(),
                        "round {round}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    revoked.push(target);
                }
                None => kills += 1,
            }
        }
        if round % 10 == 0 {
            assert_eq!(
                integrity(&env),
                "ok",
                "after round {round} (seed {seed:#x})"
            );
        }
    }
    assert_eq!(integrity(&env), "ok", "seed {seed:#x}");
    let all = env
        .run(&["list", "--status", "all", "--json"])
        .success()
        .json();
    let by_id: std::collections::HashMap<&str, &str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    for id in &created {
        assert!(
            by_id.contains_key(id.as_str()),
            "created token {id} is gone (seed {seed:#x})"
        );
    }
    for id in &revoked {
        assert_eq!(
            by_id[id.as_str()],
            "revoked",
            "revocation of {id} was lost (seed {seed:#x})"
        );
    }
    eprintln!(
        "sigkill_during_cli_writes: {kills} kills in {round} rounds, {} creates and {} revocations kept",
        created.len(),
        revoked.len()
    );
}

/// A revocation on a disk filled to the last byte: written with the space reserve kept
/// beside the database, said loudly, and the reserve made again once there is room.
#[test]
fn revocation_on_a_full_disk() {
    let env = TestEnv::sqlite();
    let script = r#"
"$T" create --name victim --scope cases:read --json > "$MNT/../victim.json" 2>/dev/null || exit 10
"$T" -q create --name bystander --scope cases:read > /dev/null || exit 11
echo "reserve-before=$(stat -c '%a %s' "$TOKENCTL_DB-reserve")"
# To the last byte: cat stops only when the disk refuses another one.
cat /dev/zero > "$MNT/filler" 2>/dev/null
echo "avail=$(df --output=avail -B1 "$MNT" | tail -1 | tr -d " ")"
echo "---create"
"$T" create --name more --scope cases:read 2>&1; echo "create-exit=$?"
echo "---revoke"
"$T" revoke victim --yes --reason leaked 2>&1; echo "revoke-exit=$?"
test -e "$TOKENCTL_DB-reserve" && echo "reserve=kept" || echo "reserve=released"
echo "---verify"
secret=$(grep -o '"token":"[^"]*"' "$MNT/../victim.json" | cut -d'"' -f4)
echo "$secret" | "$T" verify --no-record --json; echo "verify-exit=$?"
echo "---second"
cat /dev/zero > "$MNT/filler2" 2>/dev/null
"$T" revoke bystander --yes 2>&1; echo "second-exit=$?"
echo "---freed"
rm "$MNT/filler" "$MNT/filler2"
"$T" list --status all --json 2>&1 | grep -o '"status":"[a-z]*"' | sort | uniq -c
echo "reserve-after=$(stat -c '%a %s' "$TOKENCTL_DB-reserve")"
sqlite3 "$TOKENCTL_DB" 'PRAGMA integrity_check' 2>/dev/null || echo "(no sqlite3)"
"#;
    let Some(out) = crate::faults::with_small_disk(&env, "4m", script) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    let section = |name: &str| {
        stdout
            .split(&format!("---{name}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {name} section:\n{stdout}"))
            .split("\n---")
            .next()
            .unwrap()
            .to_string()
    };
    assert!(stdout.contains("reserve-before=600 1048576"), "{stdout}");
    assert!(
        stdout.contains("avail=0\n"),
        "the disk was not full:\n{stdout}"
    );
    let create = section("create");
    assert!(
        create.contains("create-exit=1") && create.contains("disk is full"),
        "a create on the full disk should fail, and say why:\n{create}"
    );
    let revoke = section("revoke");
    assert!(revoke.contains("revoke-exit=0"), "{revoke}");
    assert!(revoke.contains("Revoked token"), "{revoke}");
    assert!(
        revoke.contains("THE DISK IS FULL") && revoke.contains("Free space on that disk"),
        "the revocation did not say it used the reserve:\n{revoke}"
    );
    assert!(stdout.contains("reserve=released"), "{stdout}");
    let verify = section("verify");
    assert!(
        verify.contains("verify-exit=3") && verify.contains(r#""reason":"revoked""#),
        "{verify}"
    );
    // The reserve is spent: a second revocation, once the disk is full again, fails and
    // says what to do.
    let second = section("second");
    assert!(
        second.contains("second-exit=1") && second.contains("free space on that disk"),
        "{second}"
    );
    let freed = section("freed");
    assert!(freed.contains(r#"1 "status":"revoked""#), "{freed}");
    assert!(freed.contains(r#"1 "status":"active""#), "{freed}");
    assert!(
        freed.contains("reserve-after=600 1048576"),
        "the reserve was not made again:\n{freed}"
    );
    assert!(freed.trim_end().ends_with("ok"), "{freed}");
}
