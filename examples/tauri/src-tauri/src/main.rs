// The Rust side only registers the shell plugin; the sidecar is started from JavaScript
// (src/nodebase.js). nodebase exits by itself when this process exits.
fn main() {
    tauri::Builder::default()
        .plugin(tauri_plugin_shell::init())
        .run(tauri::generate_context!())
        .expect("error while running the app");
}
