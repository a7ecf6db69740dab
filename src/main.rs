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

fn main() {
    let parsed = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if let Err(err) = cli::run(parsed) {
        let input_problem = err.chain().any(|c| c.downcast_ref::<hearth::Error>().is_some_and(|e| e.is_input_problem()));
        // The context line first, then the causes; a multi-line cause (validation) stays as is.
        let mut first = true;
        for cause in err.chain() {
            if first {
                eprintln!("error: {cause}");
                first = false;
            } else {
                eprintln!("{cause}");
            }
        }
        std::process::exit(if input_problem { 1 } else { 2 });
    }
}
