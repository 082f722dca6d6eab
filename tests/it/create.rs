use crate::common::TestEnv;

#[test]
fn prints_only_the_token_on_stdout() {
    let env = TestEnv::new();
    let run = env
        .run(&[
            "create",
            "--name",
            "Mailchimp sync",
            "--scope",
            "contacts:write",
        ])
        .success();
    let line = run.stdout.strip_suffix('\n').expect("newline");
    assert!(!line.contains('\n'));
    let parsed = tokenctl::token::parse(line).expect("parses");
    assert_eq!(parsed.env(), "live");
    assert!(run.stderr.contains("only time"), "{}", run.stderr);
}
