//! What a plugin can send the host: a response to a call, or a host call. Decoding any
//! bytes must give a value or an error, never a panic; what decodes encodes again, and a
//! host call always maps to the one capability that guards it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_api::codec::{decode, encode};
use plugin_api::{HostCall, PluginResponse};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(response) = decode::<PluginResponse>(bytes) {
        let again = encode(&response).expect("a decoded response encodes");
        assert!(decode::<PluginResponse>(&again).is_ok(), "and decodes again");
    }
    if let Ok(call) = decode::<HostCall>(bytes) {
        let again = encode(&call).expect("a decoded host call encodes");
        assert!(decode::<HostCall>(&again).is_ok(), "and decodes again");
        let _ = call.capability();
    }
});
