//! Files that hold secrets (`tls_key`, `tls_ticket_key_file`): refused when others can read
//! them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A secret readable by others is a leaked secret: refuse it. Group read is allowed
/// (Debian's `ssl-cert` group convention); writing is the owner's only. `setting` names the
/// file in the error.
pub fn check_private(setting: &str, path: &Path) -> Result<(), String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{setting} {shown}: {e}"))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o027 != 0 {
        return Err(format!(
            "{setting} {shown} has mode {mode:o}: other users can read or change it (chmod 600 or 640)"
        ));
    }
    Ok(())
}
