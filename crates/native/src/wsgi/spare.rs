//! The `start_response` and `wsgi.input` objects of a finished request,
//! kept for the next request on the same Python thread when nothing else
//! refers to them: making and freeing two Python objects per request cost
//! about 4% of a hello-world request's instructions (callgrind).
//!
//! PEP 3333 asks for a fresh `start_response` and `wsgi.input` per request.
//! An object is only reused when the server holds its one reference: no
//! app code can reach it any more (an app that kept it, its `write`
//! callable, or the environ holding it, leaves the count above one, and
//! that object is simply dropped), so no app can tell a reused object
//! from a new one.

use pyo3::prelude::*;
use pyo3::pyclass::boolean_struct::False;
use pyo3::{PyClass, PyClassInitializer};

use super::call::StartResponse;
use super::input::{Body, Input};

/// One object waiting for its next request.
struct Spare<T: PyClass>(Option<Py<T>>);

impl<T> Spare<T>
where
    T: PyClass<Frozen = False> + Default + Into<PyClassInitializer<T>>,
{
    /// The spare object holding `value`, or a new one.
    fn take(&mut self, py: Python<'_>, value: T) -> PyResult<Py<T>> {
        let Some(obj) = self.0.take() else {
            return Py::new(py, value);
        };
        match obj.try_borrow_mut(py) {
            Ok(mut slot) => *slot = value,
            Err(_) => return Py::new(py, value),
        }
        Ok(obj)
    }

    /// Keep `obj` for the next request if the server holds the only
    /// reference; its state (a body, a head) is dropped now either way.
    fn keep(&mut self, py: Python<'_>, obj: Py<T>) {
        // SAFETY: `obj` is a live object and the thread is attached.
        let only_ours = unsafe { pyo3::ffi::Py_REFCNT(obj.as_ptr()) } == 1;
        if !only_ours {
            return;
        }
        let Ok(mut slot) = obj.try_borrow_mut(py) else {
            return;
        };
        *slot = T::default();
        drop(slot);
        self.0 = Some(obj);
    }
}

/// The spares of one Python thread.
pub struct Spares {
    start: Spare<StartResponse>,
    input: Spare<Input>,
}

impl Spares {
    pub fn new() -> Spares {
        Spares {
            start: Spare(None),
            input: Spare(None),
        }
    }

    /// A `start_response` in the state of a new one.
    pub fn start_response(&mut self, py: Python<'_>) -> PyResult<Py<StartResponse>> {
        self.start.take(py, StartResponse::default())
    }

    /// A `wsgi.input` reading `body` from its start.
    pub fn input(&mut self, py: Python<'_>, body: Body) -> PyResult<Py<Input>> {
        self.input.take(py, Input::new(body)?)
    }

    pub fn keep_start_response(&mut self, py: Python<'_>, obj: Py<StartResponse>) {
        self.start.keep(py, obj);
    }

    pub fn keep_input(&mut self, py: Python<'_>, obj: Py<Input>) {
        self.input.keep(py, obj);
    }
}
