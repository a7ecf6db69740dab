//! The `hearth` binary: parse the command line, call the library, print the error chain once,
//! choose the exit code (0 success, 1 problems in the input, 2 usage or system error).

/// `println!` for command output: a closed pipe (`hearth ... | head`) ends the command quietly.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::emit(&format!("{}\n", format_args!($($arg)*)))?
    };
}

mod cli;

use clap::Parser;

/// The allocator: mimalloc keeps freed pages for the next column of the same size, where the
/// system allocator returns each large one to the kernel and faults it in, zeroed, again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Stack of the thread that runs the command. Every walk over user input is bounded (expressions
/// and YAML have nesting limits, chains are flat), so the main thread's 8 MB would do; a larger
/// stack costs only address space and keeps a recursion found later from aborting the process
/// on input of ordinary size.
const COMMAND_STACK: usize = 64 << 20;

fn main() {
    let parsed = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let command = std::thread::Builder::new()
        .name("hearth".into())
        .stack_size(COMMAND_STACK)
        .spawn(move || cli::run(parsed));
    let result = match command.map(|t| t.join()) {
        Ok(Ok(result)) => result,
        // the panic message is printed already; exit as a panic on the main thread would
        Ok(Err(_)) => std::process::exit(101),
        Err(e) => {
            eprintln!("error: cannot start the command: {e}");
            std::process::exit(2);
        }
    };
    if let Err(err) = result {
        let input_problem = err.chain().any(|c| c.downcast_ref::<hearth::Error>().is_some_and(|e| e.is_input_problem()));
        // a stderr that cannot be written (`2>/dev/full`) leaves the exit code to say it failed
        let code = match report(&err) {
            Ok(()) if input_problem => 1,
            _ => 2,
        };
        std::process::exit(code);
    }
}

/// Prints the error chain on stderr, the context line first, then the causes. A list of
/// problems keeps its lines (each escapes the values it echoes); any other message is shown
/// on one line. No control character reaches the terminal either way.
fn report(err: &anyhow::Error) -> std::io::Result<()> {
    use std::io::Write;
    let mut e = std::io::stderr().lock();
    for (i, cause) in err.chain().enumerate() {
        let text = cause.to_string();
        let list = cause.downcast_ref::<hearth::Error>().is_some_and(|h| h.is_problem_list());
        let shown = if list {
            hearth::text::escape_keeping_lines(&text)
        } else {
            hearth::text::escape(&text)
        };
        writeln!(e, "{}{shown}", if i == 0 { "error: " } else { "" })?;
        // a message in the command line's words already says what its causes say
        if cause.is::<cli::Reworded>() {
            break;
        }
    }
    e.flush()
}
