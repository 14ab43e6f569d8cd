//! Opt-in details of objects on cycles: allocation sites from `tracemalloc`, and the
//! guarded `repr()` of frame locals.
//!
//! Neither runs user code by default. Allocation sites come from the standard library
//! (`tracemalloc.get_object_traceback`) and only when tracemalloc is tracing. The repr of
//! locals runs user `__repr__` and is therefore used only when the caller asked for it
//! (`repr_locals=True`); `refscope._saferepr` guards it.

use crate::cpython::{self, AsObj, ObjRef};
use pyo3::prelude::*;
use refscope_core::report::StackEntry;

/// Most frames kept per allocation traceback (tracemalloc keeps at most its own limit).
const MAX_ALLOCATION_FRAMES: usize = 64;

/// Looks up where objects were allocated, when tracemalloc is tracing.
pub struct AllocationSites<'py> {
    get_object_traceback: Option<Bound<'py, PyAny>>,
}

impl<'py> AllocationSites<'py> {
    /// Ready to look up sites if tracemalloc is tracing now; otherwise a no-op. Asks the
    /// builtin `_tracemalloc` first so that an analysis does not import `tracemalloc`
    /// when nobody uses it.
    pub fn new(py: Python<'py>) -> Self {
        let tracing = py
            .import("_tracemalloc")
            .and_then(|m| m.call_method0("is_tracing"))
            .and_then(|v| v.is_truthy())
            .unwrap_or(false);
        let get_object_traceback = if tracing {
            py.import("tracemalloc")
                .and_then(|m| m.getattr("get_object_traceback"))
                .ok()
        } else {
            None
        };
        AllocationSites {
            get_object_traceback,
        }
    }

    /// True when tracemalloc was tracing at [`AllocationSites::new`].
    pub fn is_active(&self) -> bool {
        self.get_object_traceback.is_some()
    }

    /// Where `obj` was allocated, oldest call first; empty when not traced.
    pub fn of(&self, obj: ObjRef<'_>) -> Vec<StackEntry> {
        let Some(lookup) = &self.get_object_traceback else {
            return Vec::new();
        };
        let py = lookup.py();
        let Ok(traceback) = lookup.call1((obj.to_bound(py),)) else {
            return Vec::new();
        };
        if traceback.is_none() {
            return Vec::new();
        }
        // tracemalloc.Traceback is a sequence of Frame(filename, lineno), oldest first.
        let Ok(frames) = traceback.try_iter() else {
            return Vec::new();
        };
        let mut sites: Vec<StackEntry> = frames
            .flatten()
            .map(|frame| StackEntry {
                filename: frame
                    .getattr("filename")
                    .ok()
                    .and_then(|f| cpython::str_text(f.as_obj()))
                    .unwrap_or_else(|| "?".into()),
                lineno: frame
                    .getattr("lineno")
                    .ok()
                    .and_then(|n| cpython::int_value(n.as_obj()))
                    .unwrap_or(0),
                function: String::new(),
            })
            .collect();
        if sites.len() > MAX_ALLOCATION_FRAMES {
            sites.drain(..sites.len() - MAX_ALLOCATION_FRAMES);
        }
        sites
    }
}

/// The guarded repr of `value`, by the function the Python side passed in
/// (`refscope._saferepr.guarded_repr`, for `repr_locals=True`). That function turns
/// ordinary exceptions into text itself; what still escapes it (`KeyboardInterrupt`,
/// `SystemExit`, anything not an `Exception`) propagates to the caller.
pub fn guarded_repr(function: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = function.py();
    match function.call1((value,)) {
        Ok(text) => {
            Ok(cpython::str_text(text.as_obj())
                .unwrap_or_else(|| "<repr failed: not a str>".into()))
        }
        Err(error) if !error.is_instance_of::<pyo3::exceptions::PyException>(py) => Err(error),
        Err(error) => Ok(format!(
            "<repr failed: {}>",
            error
                .get_type(py)
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        )),
    }
}
