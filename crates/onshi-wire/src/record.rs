//! Declaring a message record once: struct, reader and writer from one field list.
//!
//! `ResultOfQualificationConfirmation` alone has about ninety elements. Writing each of
//! them three times (struct field, decode arm, encode call) invites exactly the kind of
//! drift an interface crate must not have, so [`record!`] generates all three from one
//! list, in output order. Field kinds:
//!
//! * `leaf`: optional text, `Option<String>`.
//! * `req`: required text, `String`; absent or empty → [`WireError::MissingElement`].
//! * `group T`: an optional nested element, `Option<T>`.
//! * `list T`: `<Tag><Item>…</Item>…</Tag>` in XML, a flat array of objects in JSON
//!   (the `SpecificDiseasesCertificateList` shape, `ons-interface.md` §11).
//! * `wlist T`: the same in XML, an array of `{"Item":{…}}` in JSON (the `ResultList`
//!   shape, §2.2).
//! * `repeat T`: the element itself repeated, without a wrapper (`<Tag>…</Tag><Tag>…</Tag>`,
//!   the bulk bodies, §3.1); an array of objects under `"Tag"` in JSON.

use crate::WireError;
use crate::input::Node;
use crate::output::Sink;

/// A message record that can be read from a [`Node`] and written to a [`Sink`].
pub(crate) trait Record: Sized + Default {
    /// The element name of the record itself (used for list items).
    const ELEMENT: &'static str;
    /// Reads the record from its element.
    fn from_node(node: &Node<'_>) -> Result<Self, WireError>;
    /// Writes the record's children (not its own element).
    fn write_fields<S: Sink>(&self, sink: &mut S);
}

/// Reads a `list` field. Accepts the nested XML shape (`List > Item > fields`), the
/// JSON array shape (anonymous items), and the flat shape some clients write
/// (`List > fields`, possibly with the `List` element repeated).
pub(crate) fn read_list<T: Record>(out: &mut Vec<T>, list: &Node<'_>) -> Result<(), WireError> {
    let mut found_item = false;
    for item in &list.children {
        if item.name == T::ELEMENT || item.name.is_empty() {
            found_item = true;
            out.push(T::from_node(item)?);
        }
    }
    if !found_item && !list.children.is_empty() {
        out.push(T::from_node(list)?);
    }
    Ok(())
}

/// Reads a `wlist` field (`ResultList`): items named `T::ELEMENT`, or anonymous JSON
/// array items wrapping one.
pub(crate) fn read_wlist<T: Record>(out: &mut Vec<T>, list: &Node<'_>) -> Result<(), WireError> {
    for item in &list.children {
        if item.name == T::ELEMENT {
            out.push(T::from_node(item)?);
        } else if item.name.is_empty() {
            for inner in &item.children {
                if inner.name == T::ELEMENT {
                    out.push(T::from_node(inner)?);
                }
            }
        }
    }
    Ok(())
}

/// Reads one occurrence of a `repeat` field: an element (XML, or a single JSON object),
/// or a JSON array of anonymous items. An empty element means "absent" (crate rule).
pub(crate) fn read_repeat<T: Record>(out: &mut Vec<T>, node: &Node<'_>) -> Result<(), WireError> {
    if node.children.is_empty() {
        return Ok(());
    }
    if node.children.iter().all(|c| c.name.is_empty()) {
        for item in &node.children {
            if !item.children.is_empty() {
                out.push(T::from_node(item)?);
            }
        }
        return Ok(());
    }
    out.push(T::from_node(node)?);
    Ok(())
}

pub(crate) fn write_repeat<T: Record, S: Sink>(sink: &mut S, tag: &str, items: &[T]) {
    if items.is_empty() {
        return;
    }
    sink.open_repeat(tag);
    for item in items {
        sink.open_item(tag, false);
        item.write_fields(sink);
        sink.close_item(tag, false);
    }
    sink.close_repeat(tag);
}

pub(crate) fn write_list<T: Record, S: Sink>(sink: &mut S, tag: &str, items: &[T], wrapped: bool) {
    if items.is_empty() {
        return;
    }
    sink.open_list(tag);
    for item in items {
        sink.open_item(T::ELEMENT, wrapped);
        item.write_fields(sink);
        sink.close_item(T::ELEMENT, wrapped);
    }
    sink.close_list(tag);
}

pub(crate) fn write_group<T: Record, S: Sink>(sink: &mut S, tag: &str, group: &Option<T>) {
    if let Some(g) = group {
        sink.open(tag);
        g.write_fields(sink);
        sink.close(tag);
    }
}

/// See the module documentation.
macro_rules! record {
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $tag:literal {
            $(
                $(#[$fmeta:meta])*
                $kind:ident $field:ident : $ftag:literal $(=> $ty:ty)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[doc = concat!("`", $ftag, "`")]
                pub $field: record!(@ty $kind $($ty)?),
            )*
        }

        impl $crate::record::Record for $name {
            const ELEMENT: &'static str = $tag;

            fn from_node(node: &$crate::input::Node<'_>) -> Result<Self, $crate::WireError> {
                let mut out = Self::default();
                for child in &node.children {
                    match &*child.name {
                        $( $ftag => { record!(@read $kind out.$field, child $(, $ty)?); } )*
                        _ => {}
                    }
                }
                $( record!(@check $kind out.$field, $ftag); )*
                Ok(out)
            }

            fn write_fields<S: $crate::output::Sink>(&self, sink: &mut S) {
                $( record!(@write $kind sink, $ftag, &self.$field); )*
            }
        }

        impl $name {
            #[doc = concat!("The element name, `", $tag, "`.")]
            pub const ELEMENT: &'static str = $tag;

            /// Calls `f` with the element name and a mutable reference for every
            /// optional text leaf directly in this record, in output order (nested
            /// groups and lists are not visited). Handy for filling or scrubbing.
            pub fn for_each_leaf_mut(&mut self, f: &mut dyn FnMut(&'static str, &mut Option<String>)) {
                let _ = &f;
                $( record!(@visit $kind f, $ftag, &mut self.$field); )*
            }
        }
    };

    (@ty leaf) => { Option<String> };
    (@ty req) => { String };
    (@ty group $ty:ty) => { Option<$ty> };
    (@ty list $ty:ty) => { Vec<$ty> };
    (@ty wlist $ty:ty) => { Vec<$ty> };
    (@ty repeat $ty:ty) => { Vec<$ty> };

    (@read leaf $f:expr, $c:ident) => {
        if $f.is_none() {
            $f = $crate::input::leaf_text($c);
        }
    };
    (@read req $f:expr, $c:ident) => {
        if $f.is_empty() {
            if let Some(v) = $crate::input::leaf_text($c) {
                $f = v;
            }
        }
    };
    (@read group $f:expr, $c:ident, $ty:ty) => {
        if $f.is_none() {
            $f = Some(<$ty as $crate::record::Record>::from_node($c)?);
        }
    };
    (@read list $f:expr, $c:ident, $ty:ty) => {
        $crate::record::read_list::<$ty>(&mut $f, $c)?
    };
    (@read wlist $f:expr, $c:ident, $ty:ty) => {
        $crate::record::read_wlist::<$ty>(&mut $f, $c)?
    };
    (@read repeat $f:expr, $c:ident, $ty:ty) => {
        $crate::record::read_repeat::<$ty>(&mut $f, $c)?
    };

    (@check req $f:expr, $ftag:literal) => {
        if $f.is_empty() {
            return Err($crate::WireError::MissingElement($ftag));
        }
    };
    (@check $kind:ident $f:expr, $ftag:literal) => {};

    (@write leaf $s:ident, $ftag:literal, $f:expr) => {
        if let Some(v) = $f {
            $s.leaf($ftag, v);
        }
    };
    (@write req $s:ident, $ftag:literal, $f:expr) => {
        $s.leaf($ftag, $f);
    };
    (@write group $s:ident, $ftag:literal, $f:expr) => {
        $crate::record::write_group($s, $ftag, $f)
    };
    (@write list $s:ident, $ftag:literal, $f:expr) => {
        $crate::record::write_list($s, $ftag, $f, false)
    };
    (@write wlist $s:ident, $ftag:literal, $f:expr) => {
        $crate::record::write_list($s, $ftag, $f, true)
    };
    (@write repeat $s:ident, $ftag:literal, $f:expr) => {
        $crate::record::write_repeat($s, $ftag, $f)
    };

    (@visit leaf $f:ident, $ftag:literal, $v:expr) => {
        $f($ftag, $v)
    };
    (@visit $kind:ident $f:ident, $ftag:literal, $v:expr) => {};
}
