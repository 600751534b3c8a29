//! `init` reports configuration mistakes as errors, never panics, and never shows the token.

use logiscout::{Config, Env, Error};

type Expect = fn(&Error) -> bool;

#[test]
fn init_errors_are_clear_and_a_second_backend_is_refused() {
    let secret = "lgs_do_not_print_me";
    let cases: Vec<(Config, Expect)> = vec![
        (Config::new("svc").env(Env::Prod), |e| {
            matches!(e, Error::MissingApiToken)
        }),
        (Config::new("svc").env(Env::Prod).api_token(secret), |e| {
            matches!(e, Error::MissingEndpoint)
        }),
        (
            Config::new("svc")
                .env(Env::Prod)
                .api_token(secret)
                .endpoint("http://ingest.example.com/ingest"),
            |e| matches!(e, Error::InsecureEndpoint { .. }),
        ),
        (
            Config::new("svc")
                .read_rust_log(false)
                .filter("info,x=shouting"),
            |e| matches!(e, Error::InvalidFilter { .. }),
        ),
        (Config::new(""), |e| {
            matches!(
                e,
                Error::InvalidSetting {
                    setting: "service_name",
                    ..
                }
            )
        }),
    ];
    for (config, expected) in cases {
        let err = logiscout::init(config).unwrap_err();
        assert!(expected(&err), "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(!err.to_string().is_empty());
    }
    // Nothing was installed by the failures above.
    let guard = logiscout::init(Config::new("svc").console(logiscout::Console::Off)).unwrap();
    let again = logiscout::init(Config::new("svc")).unwrap_err();
    assert!(matches!(again, Error::AlreadyInitialized), "{again:?}");
    assert!(again.to_string().contains("already installed"));
    // A Prod init that cannot install its logger leaves no worker behind (all or nothing).
    let workers = || {
        std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                    .filter(|name| name.trim() == "logiscout-worke")
                    .count()
            })
            .unwrap_or(0)
    };
    let before = workers();
    let prod = Config::new("svc")
        .env(logiscout::Env::Prod)
        .api_token("lgs_x")
        .endpoint("http://127.0.0.1:9/ingest");
    assert!(matches!(
        logiscout::init(prod),
        Err(Error::AlreadyInitialized)
    ));
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(workers(), before, "the second init's worker was stopped");
    drop(guard);
}

#[test]
fn from_env_reads_the_logiscout_variables() {
    // Only this test touches these variables in this process.
    std::env::set_var("LOGISCOUT_SERVICE_NAME", "from-env");
    std::env::set_var("LOGISCOUT_ENV", "prod");
    std::env::set_var("LOGISCOUT_API_TOKEN", "lgs_env_token");
    std::env::set_var("LOGISCOUT_ENDPOINT", "https://ingest.example.com/ingest");
    std::env::set_var("LOGISCOUT_CONSOLE", "json");
    let config = Config::from_env().unwrap();
    let shown = format!("{config:?}");
    assert!(shown.contains("from-env") && shown.contains("Prod") && shown.contains("Json"));
    assert!(!shown.contains("lgs_env_token"));
    // Builder methods override the environment.
    let config = config.env(Env::Dev).service_name("override");
    assert!(format!("{config:?}").contains("override"));
    std::env::set_var("LOGISCOUT_ENV", "staging");
    assert!(matches!(Config::from_env(), Err(Error::InvalidEnv { .. })));
    for v in [
        "LOGISCOUT_SERVICE_NAME",
        "LOGISCOUT_ENV",
        "LOGISCOUT_API_TOKEN",
        "LOGISCOUT_ENDPOINT",
        "LOGISCOUT_CONSOLE",
    ] {
        std::env::remove_var(v);
    }
}

#[test]
fn an_endpoint_with_credentials_is_refused_at_init_and_never_shown() {
    let password = "pw_do_not_print_me";
    let url = format!("https://alice_do_not_print:{password}@ingest.example.com/ingest");
    let config = Config::new("svc")
        .env(Env::Prod)
        .api_token("lgs_token")
        .endpoint(&url);
    let shown = format!("{config:?} {config:#?}");
    assert!(
        !shown.contains(password) && !shown.contains("alice"),
        "{shown}"
    );
    assert!(
        shown.contains("https://[redacted]@ingest.example.com/ingest"),
        "{shown}"
    );
    let err = logiscout::init(config).unwrap_err();
    assert!(matches!(err, Error::EndpointCredentials), "{err:?}");
    let said = format!("{err} {err:?}");
    assert!(
        !said.contains(password) && !said.contains("alice"),
        "{said}"
    );
    assert!(said.contains("must not carry credentials"), "{said}");
}
