//! completions/ and man/ are generated from the clap definitions and committed; this fails when
//! they are stale. Regenerate with: PFCTL_REGEN_DOCS=1 cargo test --test docs_fresh

#[test]
fn completions_and_man_pages_are_up_to_date() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let regen = std::env::var_os("PFCTL_REGEN_DOCS").is_some();
    let mut stale = Vec::new();
    for (rel, content) in pfctl::docs::generated() {
        let path = root.join(&rel);
        if regen {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &content).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&content[..]) {
            stale.push(rel);
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files {stale:?}; run: PFCTL_REGEN_DOCS=1 cargo test --test docs_fresh"
    );
}
