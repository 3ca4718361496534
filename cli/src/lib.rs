//! What the vmon command-line tools share: `--generate man|bash|zsh|...`
//! (a man page or shell completions from a tool's clap definitions).
#![deny(missing_docs)]

/// `--generate man|bash|zsh|fish|elvish|powershell`: a man page or shell
/// completions from the clap definitions, on stdout. Looked for before
/// parsing, so the options a normal run requires are not needed.
pub fn generate_request() -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--generate" {
            return Some(args.next().unwrap_or_default());
        }
        if let Some(v) = a.strip_prefix("--generate=") {
            return Some(v.to_string());
        }
    }
    None
}

/// Writes the man page or completions `kind` of `cmd` to stdout; returns
/// the exit code (2 for an unknown kind).
pub fn generate(kind: &str, mut cmd: clap::Command) -> i32 {
    use clap_complete::Shell;
    let name = cmd.get_name().to_string();
    let mut out = std::io::stdout();
    let shell = match kind {
        "man" => {
            return match clap_mangen::Man::new(cmd).render(&mut out) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{name}: error: writing the man page: {e}");
                    1
                }
            };
        }
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        "elvish" => Shell::Elvish,
        "powershell" => Shell::PowerShell,
        _ => {
            eprintln!(
                "{name}: error: --generate takes man, bash, zsh, fish, elvish or powershell, not `{kind}`"
            );
            return 2;
        }
    };
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    0
}
