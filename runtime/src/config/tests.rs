use super::*;

fn two_cores() -> Machine {
    Machine {
        cores: vec![0, 1],
        memlock_bytes: Some(8 << 20),
    }
}

fn big_host() -> Machine {
    Machine {
        cores: (0..32).collect(),
        memlock_bytes: Some(64 << 20),
    }
}

/// The message a refused configuration gives, on a two-core host with 8 MiB memlock.
fn refusal(text: &str) -> String {
    match Config::from_toml_str_on(text, "test.toml", &two_cores()) {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(error) => error.to_string(),
    }
}

const API_PLAIN: &str = "[[listener]]\nname = \"api\"\naddress = \"127.0.0.1:8080\"\n";

#[test]
fn embedded_default_is_valid_and_matches_defaults() {
    let config = Config::from_toml_str_on(DEFAULT_TOML, "default", &two_cores()).unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(config.cores(&two_cores()), vec![0]);
    assert!(Config::embedded_default().is_ok());
}

#[test]
fn empty_text_is_the_default() {
    let config = Config::from_toml_str_on("", "empty", &two_cores()).unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn every_profile_parses_and_validates() {
    let profiles = [
        ("default", DEFAULT_TOML),
        ("small", include_str!("../../../tuning/small.toml")),
        ("medium", include_str!("../../../tuning/medium.toml")),
        ("large", include_str!("../../../tuning/large.toml")),
    ];
    for (name, text) in profiles {
        let result = Config::from_toml_str_on(text, name, &big_host());
        assert!(result.is_ok(), "{name}: {}", result.unwrap_err());
    }
    let large = Config::from_toml_str_on(profiles[3].1, "large", &big_host()).unwrap();
    assert_eq!(large.cores(&big_host()).len(), 28);
    assert_eq!(large.listeners[1].tls, Tls::Mutual);
}

#[test]
fn cores_all_means_every_allowed_core() {
    let config =
        Config::from_toml_str_on("[runtime]\ncores = \"all\"\n", "all", &two_cores()).unwrap();
    assert_eq!(config.runtime.cores, Cores::All);
    assert_eq!(config.cores(&two_cores()), vec![0, 1]);
}

#[test]
fn engine_limits_map_by_name() {
    let text = "[limits]\nmicrosteps_per_macrostep_max = 7\ndepth_max = 9\nstates_max = 11\n";
    let config = Config::from_toml_str_on(text, "t", &two_cores()).unwrap();
    let limits = config.limits.engine_limits();
    assert_eq!(limits.microsteps_per_macrostep_max, 7);
    assert_eq!(limits.depth_max, 9);
    assert_eq!(limits.states_max, 11);
    assert_eq!(
        LimitsConfig::default().engine_limits(),
        engine::limits::Limits::default()
    );
}

#[test]
fn syntax_errors_keep_line_and_column() {
    assert_eq!(
        refusal("[runtime]\ncores = [0,\n"),
        "test.toml:2:12: runtime.cores: unclosed array, expected `]`"
    );
    let error = refusal("[limits]\nsessions_per_shard_max = \"many\"\n");
    assert!(
        error.starts_with(
            "test.toml:2:26: limits.sessions_per_shard_max: invalid type: string \"many\""
        ),
        "{error}"
    );
}

#[test]
fn unknown_keys_are_refused() {
    let error = refusal("[limits]\nsession_max = 1\n");
    assert!(
        error.starts_with("test.toml:2:1: limits.session_max: unknown field `session_max`"),
        "{error}"
    );
    let text = format!("{API_PLAIN}\n[[listener]]\nname = \"b\"\nadmin = \"yes\"\n");
    let error = refusal(&text);
    assert!(
        error.starts_with("test.toml:7:9: listener[1].admin: invalid type: string"),
        "{error}"
    );
    let error = refusal("[runtime]\ncores = \"some\"\n");
    assert!(
        error.contains("expected \"all\" or a list of core numbers"),
        "{error}"
    );
}

#[test]
fn zero_and_oversized_limits() {
    assert_eq!(
        refusal("[limits]\nevent_queue_max = 0\n"),
        "test.toml: limits.event_queue_max must be at least 1"
    );
    assert_eq!(
        refusal("[limits]\ndepth_max = 0\n"),
        "test.toml: limits.depth_max must be at least 1"
    );
    assert_eq!(
        refusal("[runtime]\nbackground_queue_shares = 0\n"),
        "test.toml: runtime.background_queue_shares must be at least 1"
    );
    assert_eq!(
        refusal("[runtime]\nlatency_queue_shares = 1001\n"),
        "test.toml: runtime.latency_queue_shares = 1001 is above the maximum 1000"
    );
    assert_eq!(
        refusal("[limits]\nsessions_per_shard_max = 16777217\n"),
        "test.toml: limits.sessions_per_shard_max = 16777217 is above the maximum 16777216"
    );
    assert_eq!(
        refusal("[limits]\nheader_timeout_ms = 40000\n"),
        "test.toml: limits.header_timeout_ms = 40000 is above limits.request_timeout_ms = 30000"
    );
}

#[test]
fn cores_are_checked_against_the_machine() {
    assert_eq!(
        refusal("[runtime]\ncores = []\n"),
        "test.toml: runtime.cores is empty; list at least one core"
    );
    assert_eq!(
        refusal("[runtime]\ncores = [1, 1]\n"),
        "test.toml: runtime.cores lists core 1 twice"
    );
    assert_eq!(
        refusal("[runtime]\ncores = [0, 2]\n"),
        "test.toml: runtime.cores: core 2 is not available to this process (available: 0-1)"
    );
}

#[test]
fn io_memory_must_fit_the_memlock_limit() {
    assert_eq!(
        refusal("[runtime]\ncores = \"all\"\nio_memory_bytes = 5000000\n"),
        "test.toml: runtime.io_memory_bytes = 5000000 × 2 shards is above the locked-memory \
         limit of 8388608 bytes (ulimit -l)"
    );
    let unlimited = Machine {
        memlock_bytes: None,
        ..two_cores()
    };
    let text = "[runtime]\ncores = \"all\"\nio_memory_bytes = 5000000\n";
    assert!(Config::from_toml_str_on(text, "t", &unlimited).is_ok());
}

#[test]
fn listener_names_and_addresses() {
    assert_eq!(
        refusal("[[listener]]\nname = \"\"\n"),
        "test.toml: a [[listener]] has an empty name"
    );
    assert_eq!(
        refusal(&format!("{API_PLAIN}{API_PLAIN}")),
        "test.toml: listener \"api\": name used twice"
    );
    let overlap = format!("{API_PLAIN}[[listener]]\nname = \"all\"\naddress = \"0.0.0.0:8080\"\n");
    assert_eq!(
        refusal(&overlap),
        "test.toml: listener \"all\": address 0.0.0.0:8080 overlaps listener \"api\" \
         (127.0.0.1:8080)"
    );
    let other_port = format!(
        "{API_PLAIN}[[listener]]\nname = \"b\"\naddress = \"0.0.0.0:81\"\n\
         access = \"open\"\n"
    );
    assert!(Config::from_toml_str_on(&other_port, "t", &two_cores()).is_ok());
    assert_eq!(
        refusal("[[listener]]\nname = \"voice\"\nprotocol = \"sip\"\nadmin = true\n"),
        "test.toml: listener \"voice\": admin = true is for HTTP listeners, not SIP"
    );
    let error = refusal("[[listener]]\naddress = \"localhost\"\n");
    assert!(
        error.starts_with("test.toml:2:11: listener[0].address: invalid socket address syntax"),
        "{error}"
    );
}

#[test]
fn tls_needs_its_files() {
    assert_eq!(
        refusal("[[listener]]\nname = \"api\"\ntls = \"on\"\nkey = \"k.pem\"\n"),
        "test.toml: listener \"api\": tls = \"on\" needs cert"
    );
    assert_eq!(
        refusal("[[listener]]\nname = \"api\"\ntls = \"on\"\ncert = \"c.pem\"\n"),
        "test.toml: listener \"api\": tls = \"on\" needs key"
    );
    let mutual = "[[listener]]\nname = \"api\"\ntls = \"mutual\"\ncert = \"c\"\nkey = \"k\"\n";
    assert_eq!(
        refusal(mutual),
        "test.toml: listener \"api\": tls = \"mutual\" needs client_ca"
    );
    assert_eq!(
        refusal("[[listener]]\nname = \"api\"\ncert = \"c.pem\"\n"),
        "test.toml: listener \"api\": cert is set but not used with tls = \"off\""
    );
    let on_with_ca = "[[listener]]\nname = \"api\"\ntls = \"on\"\ncert = \"c\"\nkey = \"k\"\n\
                      client_ca = \"ca\"\n";
    assert_eq!(
        refusal(on_with_ca),
        "test.toml: listener \"api\": client_ca is set but not used with tls = \"on\""
    );
}

#[test]
fn application_must_be_named() {
    assert_eq!(
        refusal("[application]\nsrc = \"\"\n"),
        "test.toml: application.src is empty"
    );
    assert_eq!(
        refusal("[application]\nname = \" \"\n"),
        "test.toml: application.name is empty"
    );
}

#[test]
fn load_reports_the_path() {
    let error = Config::load(Path::new("/nonexistent/baton.toml")).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(
        error.to_string().starts_with("/nonexistent/baton.toml: "),
        "{error}"
    );
}

#[test]
fn reload_plan_lists_listener_and_certificate_changes() {
    let old = Config::from_toml_str_on(
        include_str!("../../../tuning/medium.toml"),
        "old",
        &big_host(),
    )
    .unwrap();
    let mut new = old.clone();
    assert!(Config::reload_plan(&old, &new).is_empty());
    assert_eq!(Config::reload_plan(&old, &new).to_string(), "no changes");
    new.listeners.remove(1);
    new.listeners[0].cert = Some("/etc/baton/tls/server-2026.crt".into());
    new.listeners.push(ListenerConfig {
        name: "metrics".into(),
        address: "127.0.0.1:9100".parse().unwrap(),
        ..ListenerConfig::default()
    });
    new.limits.request_timeout_ms = 20_000;
    new.limits.sessions_per_shard_max = 1;
    let plan = Config::reload_plan(&old, &new);
    assert_eq!(plan.listeners_added, ["metrics"]);
    assert_eq!(plan.listeners_removed, ["admin"]);
    assert_eq!(plan.certificates_changed, ["api"]);
    assert!(plan.listeners_changed.is_empty());
    assert!(plan.limits_changed);
    assert!(!plan.application_changed);
    assert_eq!(plan.restart_required, ["limits.sessions_per_shard_max"]);
    assert_eq!(
        plan.to_string(),
        "listeners added: metrics; listeners removed: admin; certificates changed: api; \
         limits changed; needs a restart to apply: limits.sessions_per_shard_max"
    );
}

#[test]
fn reload_plan_sees_address_and_tls_mode_changes() {
    let old = Config::default();
    let mut new = old.clone();
    new.listeners[0].address = "127.0.0.1:8081".parse().unwrap();
    new.runtime.cores = Cores::All;
    let plan = Config::reload_plan(&old, &new);
    let change = &plan.listeners_changed[0];
    assert_eq!(change.name, "http");
    assert!(change.address);
    assert!(!change.tls);
    assert!(!plan.limits_changed);
    assert_eq!(plan.restart_required, ["runtime.cores"]);
}

#[test]
fn cpu_lists_and_memlock_rows_parse() {
    assert_eq!(
        machine::parse_cpu_list("0-3,8,10-11"),
        Some(vec![0, 1, 2, 3, 8, 10, 11])
    );
    assert_eq!(machine::parse_cpu_list("x"), None);
    let limits = "Max locked memory         8388608              8388608              bytes\n";
    assert_eq!(machine::parse_memlock(limits), Some(Some(8 << 20)));
    let unlimited = "Max locked memory         unlimited            unlimited            bytes\n";
    assert_eq!(machine::parse_memlock(unlimited), Some(None));
    assert!(!Machine::probe().cores.is_empty());
}

#[test]
fn outbound_section_parses_rules_in_order() {
    let text = "[outbound]\nroots = \"/etc/baton/roots.pem\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n\
                connect_timeout_ms = 2000\n\n\
                [[outbound.bind]]\nhost = \"10.0.0.0/8\"\nport = 443\n\
                local_address = \"10.1.0.5\"\nlocal_port = \"40000-40099\"\n\n\
                [[outbound.bind]]\nhost = \"*.Apps.Example\"\nlocal_address = \"10.1.0.6\"\n\
                local_port = 5000\n\n\
                [[outbound.bind]]\nlocal_address = \"::1\"\n\n\
                [documents]\ncache_entries_max = 10\nredirects_max = 0\n";
    let config = Config::from_toml_str_on(text, "t", &two_cores()).unwrap();
    let outbound = &config.outbound;
    assert_eq!(outbound.connect_timeout_ms, 2000);
    assert_eq!(outbound.request_timeout_ms, 10_000);
    assert_eq!(outbound.binds.len(), 3);
    let network = HostMatch::Network {
        network: "10.0.0.0".parse().unwrap(),
        prefix: 8,
    };
    assert_eq!(outbound.binds[0].host, Some(network));
    let range = LocalPorts::Range {
        first: 40000,
        last: 40099,
    };
    assert_eq!(outbound.binds[0].local_port, range);
    let name = HostMatch::Name("*.apps.example".into());
    assert_eq!(outbound.binds[1].host, Some(name));
    assert_eq!(outbound.binds[1].local_port, LocalPorts::Port(5000));
    assert_eq!(outbound.binds[2].host, None);
    assert_eq!(outbound.binds[2].local_port, LocalPorts::Any);
    assert_eq!(config.documents.cache_entries_max, 10);
    assert_eq!(config.documents.redirects_max, 0);
    assert_eq!(config.documents.sources_max, 16);
}

#[test]
fn outbound_refusals_name_the_key() {
    assert_eq!(
        refusal("[outbound]\nkey = \"k.pem\"\n"),
        "test.toml: outbound.key is set without outbound.cert"
    );
    assert_eq!(
        refusal("[outbound]\nrequest_timeout_ms = 0\n"),
        "test.toml: outbound.request_timeout_ms must be at least 1"
    );
    assert_eq!(
        refusal("[documents]\nredirects_max = 21\n"),
        "test.toml: documents.redirects_max = 21 is above the maximum 20"
    );
    let rule = "[[outbound.bind]]\nlocal_address = \"127.0.0.1\"\n";
    assert_eq!(
        refusal(&format!("{rule}local_port = \"9-1\"\n")),
        "test.toml: outbound.bind[0]: local_port range must be FIRST-LAST with 1 <= FIRST <= LAST"
    );
    assert_eq!(
        refusal(&format!("{rule}host = \"::/0\"\n")),
        "test.toml: outbound.bind[0]: host and local_address are of different address families"
    );
    let error = refusal(&format!("{rule}host = \"10.0.0.0/33\"\n"));
    assert!(
        error.starts_with("test.toml:3:8: outbound.bind[0].host: '10.0.0.0/33': prefix must be"),
        "{error}"
    );
    let error = refusal(&format!("{rule}host = \"bad host\"\n"));
    assert!(error.contains("is not a host name"), "{error}");
    let error = refusal(&format!("{rule}local_port = \"many\"\n"));
    assert!(error.contains("a port number or a range"), "{error}");
    let error = refusal("[[outbound.bind]]\nhost = \"a\"\n");
    assert!(error.contains("missing field `local_address`"), "{error}");
}

#[test]
fn allow_lists_parse_and_refusals_name_the_key() {
    let text = "[documents]\nallow = [\".\", \"/srv/strategies\", \"https://apps.example/s/\"]\n\
                cache_bytes_max = 1000\n\n\
                [[outbound.allow]]\nhost = \"127.0.0.0/8\"\nport = 8080\n\n\
                [[outbound.allow]]\nhost = \"*.example.com\"\n";
    let config = Config::from_toml_str_on(text, "test.toml", &two_cores()).expect("valid");
    let allow = config.documents.allow.as_deref().expect("set");
    assert_eq!(allow.len(), 3);
    assert_eq!(config.documents.cache_bytes_max, 1000);
    let rules = config.outbound.allow.as_deref().expect("set");
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].port, Some(8080));
    assert_eq!(rules[1].host, HostMatch::Name("*.example.com".into()));
    assert_eq!(Config::default().documents.allow, None);
    assert_eq!(Config::default().outbound.allow, None);
    assert_eq!(
        refusal("[documents]\nallow = [\"\"]\n"),
        "test.toml: documents.allow[0] = '': an empty place would allow nothing"
    );
    assert_eq!(
        refusal("[documents]\nallow = [\".\", \"ftp://h/\"]\n"),
        "test.toml: documents.allow[1] = 'ftp://h/': write a directory path or an http:/https: \
         URL prefix"
    );
    assert_eq!(
        refusal("[documents]\nallow = [\"http://\"]\n"),
        "test.toml: documents.allow[0] = 'http://': not an absolute http: or https: URL"
    );
    assert_eq!(
        refusal("[documents]\ncache_bytes_max = 0\n"),
        "test.toml: documents.cache_bytes_max must be at least 1"
    );
    assert_eq!(
        refusal("[[outbound.allow]]\nhost = \"10.0.0.1\"\nport = 0\n"),
        "test.toml: outbound.allow[0]: port 0 matches no destination"
    );
    let error = refusal("[[outbound.allow]]\nport = 80\n");
    assert!(error.contains("missing field `host`"), "{error}");
}

#[test]
fn allow_lists_need_a_restart() {
    let old = Config::default();
    let mut new = old.clone();
    new.documents.allow = Some(vec!["/srv".into()]);
    new.outbound.allow = Some(Vec::new());
    let plan = Config::reload_plan(&old, &new);
    assert_eq!(plan.restart_required, ["outbound", "documents"]);
    let in_force = Config::in_force_after_reload(&old, &new);
    assert_eq!(in_force.documents, old.documents);
    assert_eq!(in_force.outbound, old.outbound);
}

#[test]
fn reload_keeps_keys_fixed_at_start_in_force() {
    let old = Config::default();
    let mut new = old.clone();
    new.runtime.cores = Cores::All;
    new.limits.js_heap_bytes_max = 1 << 20;
    new.limits.body_bytes_max = 10;
    new.listeners[0].admin = false;
    let plan = Config::reload_plan(&old, &new);
    assert_eq!(
        plan.restart_required,
        ["runtime.cores", "limits.js_heap_bytes_max"]
    );
    assert!(plan.limits_changed);
    assert_eq!(plan.admin_changed, ["http"]);
    let in_force = Config::in_force_after_reload(&old, &new);
    assert_eq!(in_force.runtime, old.runtime);
    assert_eq!(
        in_force.limits.js_heap_bytes_max,
        old.limits.js_heap_bytes_max
    );
    assert_eq!(in_force.limits.body_bytes_max, 10);
    assert!(!in_force.listeners[0].admin);
    // Reloading the same file again still reports what a restart would change.
    let again = Config::reload_plan(&in_force, &new);
    assert_eq!(again.restart_required, plan.restart_required);
    assert!(!again.limits_changed);
    assert!(again.admin_changed.is_empty());
}

#[test]
fn admin_is_off_unless_asked_and_exposure_is_reported() {
    let config = Config::from_toml_str_on(API_PLAIN, "t", &two_cores()).unwrap();
    assert!(!config.listeners[0].admin);
    assert!(
        Config::default().listeners[0].admin,
        "the loopback default has it"
    );
    assert!(Config::default().exposed_admin_listeners().is_empty());
    let open = "[[listener]]\nname = \"a\"\naddress = \"0.0.0.0:9000\"\nadmin = true\n\
                access = \"open\"\n";
    let config = Config::from_toml_str_on(open, "t", &two_cores()).unwrap();
    let exposed: Vec<&str> = config
        .exposed_admin_listeners()
        .iter()
        .map(|listener| &*listener.name)
        .collect();
    assert_eq!(exposed, ["a"]);
}

#[test]
fn header_bytes_below_the_codec_minimum_are_refused() {
    assert_eq!(
        refusal("[limits]\nheader_bytes_max = 63\n"),
        "test.toml: limits.header_bytes_max = 63 is below the minimum 64"
    );
}

#[test]
fn basichttp_location_is_configured_or_derived_from_a_listener() {
    let parse = |text: &str| Config::from_toml_str_on(text, "t", &two_cores()).unwrap();
    let config = parse(API_PLAIN);
    assert_eq!(config.basichttp, BasicHttpConfig::default());
    assert_eq!(
        config.basichttp_location().base(),
        Some("http://127.0.0.1:8080")
    );
    // A mutual-TLS listener is skipped; a TLS one gives https; IPv6 keeps its brackets.
    let tls = "[[listener]]\nname = \"m\"\naddress = \"127.0.0.1:1\"\ntls = \"mutual\"\n\
               cert = \"c\"\nkey = \"k\"\nclient_ca = \"a\"\n\
               [[listener]]\nname = \"t\"\naddress = \"[::1]:8443\"\ntls = \"on\"\n\
               cert = \"c\"\nkey = \"k\"\n";
    assert_eq!(
        parse(tls).basichttp_location(),
        BasicHttpLocation::Listener {
            name: "t".into(),
            base: "https://[::1]:8443".into()
        }
    );
    let any = "[[listener]]\nname = \"api\"\naddress = \"0.0.0.0:8080\"\naccess = \"open\"\n";
    let unknown = parse(any).basichttp_location();
    assert_eq!(unknown.base(), None);
    assert!(format!("{unknown:?}").contains("0.0.0.0:8080"));
    let configured = parse(&format!(
        "{any}[basichttp]\nlocation = \"https://baton.example.com/ors/\"\n\
         sends_in_flight_max = 8\n"
    ));
    assert_eq!(configured.basichttp.sends_in_flight_max, 8);
    assert_eq!(
        configured.basichttp_location().base(),
        Some("https://baton.example.com/ors")
    );
}

#[test]
fn basichttp_refusals_name_the_key() {
    let error = refusal("[basichttp]\nsends_in_flight_max = 0\n");
    assert!(
        error.contains("basichttp.sends_in_flight_max must be at least 1"),
        "{error}"
    );
    let error = refusal("[basichttp]\nsends_in_flight_max = 100000\n");
    assert!(error.contains("above the maximum 65536"), "{error}");
    let cases = [
        ("ftp://host", "must start with http:// or https://"),
        ("http://", "has no host"),
        ("http://user@host", "user info"),
        ("http://host/?a=1", "query or fragment"),
        ("http://a host", "spaces"),
    ];
    for (location, fault) in cases {
        let error = refusal(&format!("[basichttp]\nlocation = \"{location}\"\n"));
        assert!(error.contains("basichttp.location"), "{error}");
        assert!(error.contains(fault), "{location}: {error}");
    }
    let error = refusal("[basichttp]\nport = 1\n");
    assert!(error.contains("unknown field `port`"), "{error}");
}

#[test]
fn basichttp_keys_need_a_restart() {
    let old = Config::default();
    let mut new = old.clone();
    new.basichttp.location = Some("http://baton:8080".into());
    new.basichttp.sends_in_flight_max = 2;
    let plan = Config::reload_plan(&old, &new);
    assert_eq!(
        plan.restart_required,
        ["basichttp.location", "basichttp.sends_in_flight_max"]
    );
    let in_force = Config::in_force_after_reload(&old, &new);
    assert_eq!(in_force.basichttp, old.basichttp);
}

#[test]
fn routing_entry_points_and_gateways() {
    let base = format!("{API_PLAIN}\n");
    let config = Config::from_toml_str_on(
        &format!(
            "{base}[routing]\nmedia = [\"video\"]\n\n[[entry_point]]\nname = \"web\"\n\
             application = \"app.scxml\"\nconversation = \"customer\"\nmedia = [\"video\"]\n\n\
             [[gateway]]\nname = \"sms\"\nmedia = \"sms\"\nurl = \"https://sms.example/send\"\n"
        ),
        "test.toml",
        &two_cores(),
    )
    .unwrap();
    assert_eq!(config.entry_points[0].conversation, Conversation::Customer);
    assert!(config.routing.knows_media("video"));
    let cases = [
        ("[routing]\nshard = 1\n", "routing.shard = 1 names no shard"),
        ("[routing]\nmedia = [\"chat\"]\n", "routing.media"),
        (
            "[routing]\nagents_max = 0\n",
            "routing.agents_max must be at least 1",
        ),
        (
            "[[entry_point]]\nname = \"a\"\napplication = \"x\"\nmedia = [\"pigeon\"]\n",
            "entry_point[0]: unknown media \"pigeon\"",
        ),
        (
            "[[entry_point]]\nname = \"a\"\napplication = \"x\"\n\n\
             [[entry_point]]\nname = \"a\"\napplication = \"y\"\n",
            "entry_point[1]: the name \"a\" is used twice",
        ),
        (
            "[[entry_point]]\nname = \"a\"\n",
            "entry_point[0]: needs a name and an application",
        ),
        (
            "[[gateway]]\nname = \"g\"\nmedia = \"sms\"\nurl = \"ftp://x\"\n",
            "gateway[0]: url \"ftp://x\" must start with http:// or https://",
        ),
    ];
    for (text, expected) in cases {
        let message = refusal(&format!("{base}{text}"));
        assert!(message.contains(expected), "{expected:?} not in {message}");
    }
}

#[test]
fn entry_points_reload_and_routing_needs_a_restart() {
    let old = Config::from_toml_str_on(API_PLAIN, "old", &two_cores()).unwrap();
    let text = format!(
        "{API_PLAIN}\n[routing]\nagents_max = 5\n\n[[entry_point]]\nname = \"b\"\napplication = \"b\"\n"
    );
    let new = Config::from_toml_str_on(&text, "new", &two_cores()).unwrap();
    let plan = Config::reload_plan(&old, &new);
    assert!(plan.entry_points_changed);
    assert_eq!(plan.restart_required, vec!["routing"]);
    let in_force = Config::in_force_after_reload(&old, &new);
    assert_eq!(in_force.routing, old.routing);
    assert_eq!(in_force.entry_points, new.entry_points);
}

const SIP_BASE: &str = "[[listener]]\nname = \"http\"\n\
    [[listener]]\nname = \"sip\"\nprotocol = \"sip\"\naddress = \"127.0.0.1:5060\"\n\
    [[entry_point]]\nname = \"voice\"\napplication = \"v.scxml\"\n";

#[test]
fn sip_routing_points_are_validated() {
    let good = format!(
        "{SIP_BASE}[sip]\ndefault_destination = \"sip:operator@10.0.0.1\"\n\
         [[routing_point]]\nnumber = \"5000\"\nentry_point = \"voice\"\n"
    );
    let config = Config::from_toml_str_on(&good, "t", &two_cores()).expect("valid");
    assert_eq!(config.routing_points[0].number, "5000");
    assert_eq!(config.sip.queued_status, 182);
    let cases = [
        (
            "[[routing_point]]\nnumber = \"5000\"\nentry_point = \"nope\"\n",
            "routing_point[0]: no [[entry_point]] named \"nope\"",
        ),
        (
            "[[routing_point]]\nnumber = \"5000\"\nentry_point = \"voice\"\n\
             [[routing_point]]\nnumber = \"5000\"\nentry_point = \"voice\"\n",
            "routing_point[1]: number \"5000\" must be unique",
        ),
        (
            "[sip]\ndefault_destination = \"http://x\"\n",
            "sip.default_destination: \"http://x\" is not a sip:, sips: or tel: URI",
        ),
        (
            "[sip]\nqueued_status = 200\n",
            "sip: queued_status 200 must be 0 (none) or a provisional status",
        ),
        ("[sip]\nt1_ms = 0\n", "sip.t1_ms must be at least 1"),
        ("[sip]\nt1_ms = 60001\nt2_ms = 70000\n", "sip.t1_ms"),
        ("[sip]\ntrying_after_ms = 201\n", "sip.trying_after_ms"),
    ];
    for (extra, expected) in cases {
        let text = format!("{SIP_BASE}{extra}");
        let error = Config::from_toml_str_on(&text, "t", &two_cores()).unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
    }
    let without_listener = "[[entry_point]]\nname = \"voice\"\napplication = \"v\"\n\
        [[routing_point]]\nnumber = \"1\"\nentry_point = \"voice\"\n";
    let error = Config::from_toml_str_on(without_listener, "t", &two_cores()).unwrap_err();
    assert!(error
        .to_string()
        .contains("no [[listener]] has protocol = \"sip\""));
}

#[test]
fn sip_listeners_and_settings_need_a_restart() {
    let old = Config::from_toml_str_on(SIP_BASE, "t", &two_cores()).expect("valid");
    let moved = SIP_BASE.replace("5060", "5070") + "[sip]\nqueued_status = 0\n";
    let new = Config::from_toml_str_on(&moved, "t", &two_cores()).expect("valid");
    let plan = Config::reload_plan(&old, &new);
    assert!(plan.listeners_changed.is_empty(), "{plan:?}");
    assert!(plan.restart_required.contains(&"SIP listeners"), "{plan:?}");
    assert!(plan.restart_required.contains(&"sip"), "{plan:?}");
    let in_force = Config::in_force_after_reload(&old, &new);
    assert_eq!(in_force.listeners, old.listeners);
    assert_eq!(in_force.sip, old.sip);
}

#[test]
fn access_rules_are_checked_with_the_key_at_fault() {
    let hash = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
    let listener = "[[listener]]\nname = \"api\"\naddress = \"0.0.0.0:8080\"\n\n";
    assert_eq!(
        refusal(listener),
        "test.toml: listener \"api\": address 0.0.0.0:8080 is not loopback and no [[access]] \
         entry applies to it: add [[access]] entries, or write access = \"open\" if a \
         firewall guards it"
    );
    let rule = |body: &str| format!("{listener}[[access]]\nname = \"crm\"\n{body}");
    let ok = rule(&format!(
        "roles = [\"integrator\"]\ntoken_sha256 = \"{hash}\"\n"
    ));
    let config = Config::from_toml_str_on(&ok, "t", &two_cores()).unwrap();
    assert_eq!(
        crate::config::effective_access(&config.listeners[0], &config.access),
        Ok(crate::config::EffectiveAccess::Rules)
    );
    let cases = [
        ("roles = []\ntoken_sha256 = \"x\"\n", "roles is empty"),
        ("roles = [\"root\"]\n", "unknown variant `root`"),
        (
            "roles = [\"integrator\"]\n",
            "needs exactly one of certificate",
        ),
        (
            "roles = [\"integrator\"]\ntoken_sha256 = \"abc\"\n",
            "not 64 hex digits",
        ),
        (
            "roles = [\"agent\"]\ntoken_sha256 = \"{hash}\"\n",
            "needs agent = \"ID\"",
        ),
        (
            "roles = [\"agent\", \"admin\"]\nagent = \"a\"\n",
            "the agent role stands alone",
        ),
        (
            "roles = [\"admin\"]\nagent = \"a\"\ncertificate = \"x\"\n",
            "without the agent",
        ),
        (
            "roles = [\"admin\"]\ncertificate = \"ops\"\nlisteners = [\"api\"]\n",
            "does not ask for client certificates",
        ),
        (
            "roles = [\"admin\"]\ncertificate = \"ops\"\nlisteners = [\"nope\"]\n",
            "not a [[listener]]",
        ),
    ];
    for (body, expected) in cases {
        let error = refusal(&rule(&body.replace("{hash}", hash)));
        assert!(error.contains(expected), "{body}: {error}");
    }
    let twice =
        format!("{ok}\n[[access]]\nname = \"crm\"\nroles = [\"metrics\"]\ncertificate = \"m\"\n");
    assert!(refusal(&twice).contains("access[1]: name \"crm\" is used twice"));
    let rules_without_entries = "[[listener]]\nname = \"api\"\naccess = \"rules\"\n";
    assert!(refusal(rules_without_entries).contains("no [[access]] entry applies"));
}
