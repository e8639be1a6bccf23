use std::path::Path;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    match edge::config::load_file(Path::new(args.last().unwrap())) {
        Ok(m) => println!("{}", edge::config::dump::to_json(&m)),
        Err(e) => { println!("{}", edge::config::dump::error_json(&e.message())); eprint!("{e}"); std::process::exit(1) }
    }
}
