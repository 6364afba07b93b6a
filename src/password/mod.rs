//! Passwords kept encrypted: the platform's Fernet tokens (`/etc/iservices/is_pass` under the
//! cluster's `/etc/iservices/encryption_key`), and inventory passwords under a local key file.

mod fernet;
mod inventory;

pub use fernet::{decrypt, encrypt, Key, KeyError, TokenError};
pub use inventory::{
    decrypt_inventory_password, encrypt_inventory_password, inventory_key_path,
    load_or_create_inventory_key, INVENTORY_KEY_ENV,
};
