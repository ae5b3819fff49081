//! Writing to the standard streams without panicking.
//!
//! `println!` panics when stdout is gone (`schemactl rules | head` closes the pipe early) or
//! cannot be written (a full disk, `>/dev/full`). The CLI writes through [`out!`] and
//! [`outln!`] instead: a closed pipe ends the process quietly with status 0, as the reader
//! asked for no more; any other error ends it with a message and status 2. Messages to
//! stderr go through [`errln!`], which ignores a stderr that cannot be written (there is
//! nowhere left to report it).

use std::fmt;
use std::io::{self, Write};

/// Writes `args` to stdout, or ends the process as the module docs describe.
pub fn write_out(args: fmt::Arguments<'_>) {
    if let Err(e) = io::stdout().lock().write_fmt(args) {
        fail(&e);
    }
}

/// Flushes stdout, or ends the process as the module docs describe.
pub fn flush_out() {
    if let Err(e) = io::stdout().lock().flush() {
        fail(&e);
    }
}

/// Writes `args` to stderr, ignoring failure.
pub fn write_err(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

fn fail(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    write_err(format_args!(
        "error: cannot write to standard output: {e}\n  help: check where the output is redirected (a full disk, a closed file)\n"
    ));
    std::process::exit(2);
}

/// `print!` that never panics (see the [module docs](self)).
macro_rules! out {
    ($($arg:tt)*) => { $crate::stdio::write_out(format_args!($($arg)*)) };
}

/// `println!` that never panics (see the [module docs](self)).
macro_rules! outln {
    () => { $crate::stdio::write_out(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::stdio::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics (see the [module docs](self)).
macro_rules! errln {
    () => { $crate::stdio::write_err(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::stdio::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {errln, out, outln};
