//! vmon-pprof: writes pprof profiles (`profile.proto`, gzipped), the format
//! `go tool pprof`, Pyroscope, Parca and Grafana read.
//!
//! The input is neutral: mappings (with build-ids), functions, locations
//! (one address each, with its inline frames as lines, innermost first),
//! and samples (leaf-first locations, values, string and numeric labels).
//! Everything added gets a typed handle from the [`ProfileBuilder`];
//! strings are interned, identical functions, locations and samples are
//! merged (the values of merged samples add up).
//!
//! ```
//! use vmon_pprof::{Function, Label, Line, Location, Mapping, ProfileBuilder};
//!
//! let mut b = ProfileBuilder::new(&[("task samples", "count")]);
//! let exe = b.mapping(&Mapping {
//!     start: 0x1000, limit: 0x2000, file_offset: 0,
//!     filename: "/usr/bin/app", build_id: "0123abcd", symbolized: true,
//! });
//! let main = b.function(&Function { name: "main", system_name: "main", filename: "app.c", start_line: 0 });
//! let work = b.function(&Function { name: "work", system_name: "work", filename: "app.c", start_line: 0 });
//! // `work` inlined into `main` at one address: one location, two lines
//! let loc = b.location(&Location {
//!     mapping: Some(exe), address: 0x1234,
//!     lines: &[Line { function: work, line: 7 }, Line { function: main, line: 20 }],
//! })?;
//! b.sample(&[loc], &[1], &[Label::str("comm", "app"), Label::num("pid", 42)])?;
//! let mut gz = Vec::new();
//! b.write_gzip(&mut gz)?;
//! assert_eq!(&gz[..2], &[0x1f, 0x8b]);
//! # Ok::<(), vmon_pprof::Error>(())
//! ```

mod proto;

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use prost::Message as _;

/// What can go wrong while building or writing a profile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A handle from another builder.
    #[error("a {0} handle from another profile builder")]
    ForeignHandle(&'static str),
    /// A sample whose value count differs from the number of sample types.
    #[error("a sample has {got} values, the profile has {expected} sample types")]
    ValueCount { expected: usize, got: usize },
    /// A location without lines and without a mapping says nothing.
    #[error("a location needs a mapping or at least one line")]
    EmptyLocation,
    #[error("writing the profile: {0}")]
    Io(#[from] std::io::Error),
}

static NEXT_BUILDER: AtomicU32 = AtomicU32::new(1);

macro_rules! handle {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name {
            builder: u32,
            /// The message's id in the profile (its index + 1).
            id: u64,
        }
    };
}

handle!(
    /// A mapping of a [`ProfileBuilder`].
    MappingHandle
);
handle!(
    /// A function of a [`ProfileBuilder`].
    FunctionHandle
);
handle!(
    /// A location of a [`ProfileBuilder`].
    LocationHandle
);

/// A mapped object (executable, shared library, the kernel).
#[derive(Clone, Copy, Debug)]
pub struct Mapping<'a> {
    pub start: u64,
    pub limit: u64,
    pub file_offset: u64,
    pub filename: &'a str,
    /// Hex text of the GNU build-id ("" when unknown).
    pub build_id: &'a str,
    /// Its locations carry functions, file names, line numbers and inline
    /// frames already: readers should not symbolize it again.
    pub symbolized: bool,
}

/// A function.
#[derive(Clone, Copy, Debug)]
pub struct Function<'a> {
    /// Human-readable (demangled) name.
    pub name: &'a str,
    /// As the system knows it (for instance mangled); may equal `name`.
    pub system_name: &'a str,
    /// Source file ("" when unknown).
    pub filename: &'a str,
    /// 0 when unknown.
    pub start_line: i64,
}

/// One frame of a location: a function at a line (0 when unknown).
#[derive(Clone, Copy, Debug)]
pub struct Line {
    pub function: FunctionHandle,
    pub line: i64,
}

/// A program location: an address, and the frames there, innermost first
/// (the last line is the function the others were inlined into).
#[derive(Clone, Copy, Debug)]
pub struct Location<'a> {
    pub mapping: Option<MappingHandle>,
    /// 0 when unknown.
    pub address: u64,
    pub lines: &'a [Line],
}

/// The value of a sample label.
#[derive(Clone, Copy, Debug)]
pub enum LabelValue<'a> {
    Str(&'a str),
    /// A number, with its unit ("" for none).
    Num(i64, &'a str),
}

/// A sample label: a key with a string or numeric value.
#[derive(Clone, Copy, Debug)]
pub struct Label<'a> {
    pub key: &'a str,
    pub value: LabelValue<'a>,
}

impl<'a> Label<'a> {
    pub fn str(key: &'a str, value: &'a str) -> Self {
        Label {
            key,
            value: LabelValue::Str(value),
        }
    }
    pub fn num(key: &'a str, value: i64) -> Self {
        Label {
            key,
            value: LabelValue::Num(value, ""),
        }
    }
}

type SampleKey = (Vec<u64>, Vec<(i64, i64, i64, i64)>);
/// (mapping id, address, lines as (function id, line)).
type LocationKey = (u64, u64, Vec<(u64, i64)>);

/// Builds one profile; see the crate documentation.
#[derive(Debug)]
pub struct ProfileBuilder {
    builder: u32,
    strings: Vec<String>,
    string_ids: HashMap<String, i64>,
    sample_types: Vec<proto::ValueType>,
    mappings: Vec<proto::Mapping>,
    functions: Vec<proto::Function>,
    function_ids: HashMap<(i64, i64, i64, i64), u64>,
    locations: Vec<proto::Location>,
    location_ids: HashMap<LocationKey, u64>,
    samples: Vec<proto::Sample>,
    sample_ids: HashMap<SampleKey, usize>,
    time_nanos: i64,
    duration_nanos: i64,
    period_type: Option<proto::ValueType>,
    period: i64,
    comments: Vec<i64>,
}

impl ProfileBuilder {
    /// A profile whose samples carry one value per `(type, unit)`, e.g.
    /// `[("task samples", "count")]`.
    pub fn new(sample_types: &[(&str, &str)]) -> Self {
        let mut b = ProfileBuilder {
            builder: NEXT_BUILDER.fetch_add(1, Ordering::Relaxed),
            strings: vec![String::new()],
            string_ids: HashMap::from([(String::new(), 0)]),
            sample_types: Vec::new(),
            mappings: Vec::new(),
            functions: Vec::new(),
            function_ids: HashMap::new(),
            locations: Vec::new(),
            location_ids: HashMap::new(),
            samples: Vec::new(),
            sample_ids: HashMap::new(),
            time_nanos: 0,
            duration_nanos: 0,
            period_type: None,
            period: 0,
            comments: Vec::new(),
        };
        for (t, u) in sample_types {
            let vt = b.value_type(t, u);
            b.sample_types.push(vt);
        }
        b
    }

    fn string(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.string_ids.get(s) {
            return i;
        }
        let i = self.strings.len() as i64;
        self.strings.push(s.to_owned());
        self.string_ids.insert(s.to_owned(), i);
        i
    }

    fn value_type(&mut self, t: &str, u: &str) -> proto::ValueType {
        proto::ValueType {
            r#type: self.string(t),
            unit: self.string(u),
        }
    }

    /// Adds a mapping. Mappings are not merged: each call is a new one.
    pub fn mapping(&mut self, m: &Mapping<'_>) -> MappingHandle {
        let id = self.mappings.len() as u64 + 1;
        let filename = self.string(m.filename);
        let build_id = self.string(m.build_id);
        self.mappings.push(proto::Mapping {
            id,
            memory_start: m.start,
            memory_limit: m.limit,
            file_offset: m.file_offset,
            filename,
            build_id,
            has_functions: m.symbolized,
            has_filenames: m.symbolized,
            has_line_numbers: m.symbolized,
            has_inline_frames: m.symbolized,
        });
        MappingHandle {
            builder: self.builder,
            id,
        }
    }

    /// Adds a function, or returns the identical one added before.
    pub fn function(&mut self, f: &Function<'_>) -> FunctionHandle {
        let key = (
            self.string(f.name),
            self.string(f.system_name),
            self.string(f.filename),
            f.start_line,
        );
        let next = self.functions.len() as u64 + 1;
        let id = *self.function_ids.entry(key).or_insert(next);
        if id == next {
            self.functions.push(proto::Function {
                id,
                name: key.0,
                system_name: key.1,
                filename: key.2,
                start_line: key.3,
            });
        }
        FunctionHandle {
            builder: self.builder,
            id,
        }
    }

    /// Adds a location, or returns the identical one added before.
    pub fn location(&mut self, l: &Location<'_>) -> Result<LocationHandle, Error> {
        let mapping_id = match l.mapping {
            Some(m) if m.builder != self.builder => return Err(Error::ForeignHandle("mapping")),
            Some(m) => m.id,
            None => 0,
        };
        if l.lines.is_empty() && mapping_id == 0 {
            return Err(Error::EmptyLocation);
        }
        let mut lines = Vec::with_capacity(l.lines.len());
        for line in l.lines {
            if line.function.builder != self.builder {
                return Err(Error::ForeignHandle("function"));
            }
            lines.push((line.function.id, line.line));
        }
        let key = (mapping_id, l.address, lines);
        if let Some(&id) = self.location_ids.get(&key) {
            return Ok(LocationHandle {
                builder: self.builder,
                id,
            });
        }
        let id = self.locations.len() as u64 + 1;
        self.locations.push(proto::Location {
            id,
            mapping_id,
            address: l.address,
            line: key
                .2
                .iter()
                .map(|&(function_id, line)| proto::Line { function_id, line })
                .collect(),
            is_folded: false,
        });
        self.location_ids.insert(key, id);
        Ok(LocationHandle {
            builder: self.builder,
            id,
        })
    }

    /// Adds a sample: its stack (leaf first), one value per sample type,
    /// and its labels. A sample with the same stack and labels as an
    /// earlier one is merged into it.
    pub fn sample(
        &mut self,
        stack: &[LocationHandle],
        values: &[i64],
        labels: &[Label<'_>],
    ) -> Result<(), Error> {
        if values.len() != self.sample_types.len() {
            return Err(Error::ValueCount {
                expected: self.sample_types.len(),
                got: values.len(),
            });
        }
        let mut location_id = Vec::with_capacity(stack.len());
        for l in stack {
            if l.builder != self.builder {
                return Err(Error::ForeignHandle("location"));
            }
            location_id.push(l.id);
        }
        let mut label = Vec::with_capacity(labels.len());
        for l in labels {
            let key = self.string(l.key);
            label.push(match l.value {
                LabelValue::Str(s) => (key, self.string(s), 0, 0),
                LabelValue::Num(n, unit) => (key, 0, n, self.string(unit)),
            });
        }
        let key = (location_id, label);
        if let Some(&i) = self.sample_ids.get(&key) {
            for (v, add) in self.samples[i].value.iter_mut().zip(values) {
                *v = v.saturating_add(*add);
            }
            return Ok(());
        }
        self.samples.push(proto::Sample {
            location_id: key.0.clone(),
            value: values.to_vec(),
            label: key
                .1
                .iter()
                .map(|&(key, str, num, num_unit)| proto::Label {
                    key,
                    str,
                    num,
                    num_unit,
                })
                .collect(),
        });
        self.sample_ids.insert(key, self.samples.len() - 1);
        Ok(())
    }

    /// When the collection started (nanoseconds since the Unix epoch) and
    /// how long it lasted.
    pub fn set_time(&mut self, time_nanos: i64, duration_nanos: i64) {
        self.time_nanos = time_nanos;
        self.duration_nanos = duration_nanos;
    }

    /// What one sample stands for, e.g. `("breach", "count")` and 1.
    pub fn set_period(&mut self, period_type: &str, unit: &str, period: i64) {
        self.period_type = Some(self.value_type(period_type, unit));
        self.period = period;
    }

    /// A free-form comment (`go tool pprof -comments` prints them).
    pub fn comment(&mut self, text: &str) {
        let c = self.string(text);
        self.comments.push(c);
    }

    /// Samples so far (merged ones count once).
    pub fn samples(&self) -> usize {
        self.samples.len()
    }

    fn to_proto(&self) -> proto::Profile {
        proto::Profile {
            sample_type: self.sample_types.clone(),
            sample: self.samples.clone(),
            mapping: self.mappings.clone(),
            location: self.locations.clone(),
            function: self.functions.clone(),
            string_table: self.strings.clone(),
            drop_frames: 0,
            keep_frames: 0,
            time_nanos: self.time_nanos,
            duration_nanos: self.duration_nanos,
            period_type: self.period_type,
            period: self.period,
            comment: self.comments.clone(),
            default_sample_type: 0,
        }
    }

    /// The profile as uncompressed protobuf bytes.
    pub fn encode(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// Writes the profile gzipped, as pprof files are stored.
    pub fn write_gzip<W: Write>(&self, w: W) -> Result<(), Error> {
        let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
        gz.write_all(&self.encode())?;
        gz.finish()?.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(b: &ProfileBuilder) -> proto::Profile {
        proto::Profile::decode(b.encode().as_slice()).expect("our own encoding decodes")
    }

    #[test]
    fn strings_functions_locations_and_samples_are_merged() {
        let mut b = ProfileBuilder::new(&[("task samples", "count")]);
        let m = b.mapping(&Mapping {
            start: 0x1000,
            limit: 0x2000,
            file_offset: 0,
            filename: "/bin/x",
            build_id: "ab",
            symbolized: true,
        });
        let f = b.function(&Function {
            name: "f",
            system_name: "f",
            filename: "x.c",
            start_line: 0,
        });
        let f2 = b.function(&Function {
            name: "f",
            system_name: "f",
            filename: "x.c",
            start_line: 0,
        });
        assert_eq!(f, f2);
        let lines = [Line {
            function: f,
            line: 3,
        }];
        let l = b
            .location(&Location {
                mapping: Some(m),
                address: 0,
                lines: &lines,
            })
            .unwrap();
        let l2 = b
            .location(&Location {
                mapping: Some(m),
                address: 0,
                lines: &lines,
            })
            .unwrap();
        assert_eq!(l, l2);
        b.sample(&[l], &[1], &[Label::str("comm", "x")]).unwrap();
        b.sample(&[l], &[2], &[Label::str("comm", "x")]).unwrap();
        b.sample(&[l], &[1], &[Label::num("pid", 7)]).unwrap();
        let p = decode(&b);
        assert_eq!(p.string_table[0], "");
        assert_eq!(p.function.len(), 1);
        assert_eq!(p.location.len(), 1);
        assert_eq!(p.location[0].mapping_id, 1);
        assert_eq!(p.sample.len(), 2);
        assert_eq!(p.sample[0].value, vec![3]);
        let t = &p.string_table;
        assert_eq!(t[p.sample_type[0].r#type as usize], "task samples");
        assert_eq!(t[p.sample[1].label[0].key as usize], "pid");
        assert_eq!(p.sample[1].label[0].num, 7);
        assert_eq!(t[p.mapping[0].build_id as usize], "ab");
    }

    #[test]
    fn foreign_handles_and_bad_samples_are_refused() {
        let mut a = ProfileBuilder::new(&[("n", "count")]);
        let mut b = ProfileBuilder::new(&[("n", "count")]);
        let f = a.function(&Function {
            name: "f",
            system_name: "",
            filename: "",
            start_line: 0,
        });
        let lines = [Line {
            function: f,
            line: 0,
        }];
        let loc = Location {
            mapping: None,
            address: 0,
            lines: &lines,
        };
        assert!(matches!(b.location(&loc), Err(Error::ForeignHandle(_))));
        let l = a.location(&loc).unwrap();
        assert!(matches!(
            b.sample(&[l], &[1], &[]),
            Err(Error::ForeignHandle(_))
        ));
        assert!(matches!(
            a.sample(&[l], &[1, 2], &[]),
            Err(Error::ValueCount { .. })
        ));
        assert!(matches!(
            a.location(&Location {
                mapping: None,
                address: 1,
                lines: &[]
            }),
            Err(Error::EmptyLocation)
        ));
    }

    #[test]
    fn gzip_round_trip() {
        let mut b = ProfileBuilder::new(&[("n", "count")]);
        b.comment("hello");
        b.set_time(5, 6);
        let mut gz = Vec::new();
        b.write_gzip(&mut gz).unwrap();
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut raw)
            .unwrap();
        let p = proto::Profile::decode(raw.as_slice()).unwrap();
        assert_eq!((p.time_nanos, p.duration_nanos), (5, 6));
        assert_eq!(p.string_table[p.comment[0] as usize], "hello");
    }
}
