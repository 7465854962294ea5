//! The raw ABI on wasm32, and the only `unsafe` code of the SDK.
//!
//! Memory ownership (see the crate docs): the host writes a request into a buffer it got
//! from `portal_alloc`; `portal_handle` takes ownership of it and frees it. The response
//! buffer belongs to the host after `portal_handle` returns; a host that keeps the
//! instance frees it with `portal_free`. For a host call, the guest keeps ownership of the
//! call bytes; the host writes the reply into a buffer it gets from `portal_alloc`, and the
//! guest takes ownership of it. Every buffer is a `Box<[u8]>` of exactly its length.
#![allow(unsafe_code)]

use std::alloc::{Layout, alloc as raw_alloc};

#[link(wasm_import_module = "portal")]
unsafe extern "C" {
    /// The one host import: takes the encoded call, returns the reply packed as
    /// `(ptr << 32) | len`, allocated with `portal_alloc`.
    #[link_name = "host_call"]
    fn portal_host_call(ptr: u32, len: u32) -> u64;
}

use crate::{pack, unpack};

/// A zero-length buffer needs no allocation; any non-null aligned pointer will do.
const EMPTY: u32 = 1;

/// Allocates exactly `len` bytes (uninitialized) and leaks them to the caller.
pub fn alloc(len: u32) -> u32 {
    if len == 0 {
        return EMPTY;
    }
    match Layout::array::<u8>(len as usize) {
        // SAFETY: the layout has a non-zero size.
        Ok(layout) => unsafe { raw_alloc(layout) as u32 },
        Err(_) => 0,
    }
}

/// Frees a buffer of `len` bytes that came from [`alloc`] or from a response.
pub fn free(ptr: u32, len: u32) {
    if len == 0 || ptr == 0 {
        return;
    }
    // SAFETY: by the ABI, `ptr`/`len` describe a buffer allocated by `alloc` (or a boxed
    // response slice) with this exact length, which nobody else will free.
    unsafe { drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr as *mut u8, len as usize))) }
}

/// Takes ownership of a buffer of `len` bytes that came from [`alloc`].
fn take(ptr: u32, len: u32) -> Box<[u8]> {
    if len == 0 || ptr == 0 {
        return Box::default();
    }
    // SAFETY: as in `free`: the buffer came from `alloc` with this exact length and was
    // fully written by the host, which does not touch it again.
    unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr as *mut u8, len as usize)) }
}

/// Hands a buffer over to the host, packed as `(ptr << 32) | len`.
fn give(bytes: Vec<u8>) -> u64 {
    let boxed = bytes.into_boxed_slice();
    let len = boxed.len() as u32;
    if len == 0 {
        return pack(EMPTY, 0);
    }
    let ptr = Box::into_raw(boxed) as *mut u8 as u32;
    pack(ptr, len)
}

/// Runs `portal_handle`: takes the request buffer, answers it with `dispatch`, and hands
/// the response buffer to the host.
pub fn handle(ptr: u32, len: u32, dispatch: fn(&[u8]) -> Vec<u8>) -> u64 {
    let input = take(ptr, len);
    let output = dispatch(&input);
    drop(input);
    give(output)
}

/// Sends one encoded host call and returns the encoded reply.
pub fn host_call(call: &[u8]) -> Vec<u8> {
    // SAFETY: the host only reads `call.len()` bytes at `call.as_ptr()`, which stay valid
    // for the duration of the call; it returns a buffer from `portal_alloc` (or an empty one).
    let packed = unsafe { portal_host_call(call.as_ptr() as u32, call.len() as u32) };
    let (ptr, len) = unpack(packed);
    take(ptr, len).into_vec()
}
