//! The compiled document: immutable tables that every session of a document shares.
//!
//! States are numbered in document order (pre-order), so "document order" is index order,
//! and the descendants of state `s` are exactly `s+1 .. states[s].descendants_end`. Index 0
//! is the `<scxml>` root, which behaves as a compound state. Transitions of one state are
//! contiguous and in document order. Executable content is lowered to a flat instruction
//! list ([`Instr`]) with jumps, addressed by [`Block`]s. Every expression, location and
//! script is listed once in [`Document::exprs`], so a datamodel compiles each exactly once.

use std::collections::HashMap;
use std::ops::Range;

use crate::error::Position;
use crate::extension::ActionKind;
use crate::value::Value;

/// Index of a state in [`Document::states`]; document order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateIdx(pub u32);

/// Index of a transition in [`Document::transitions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransitionIdx(pub u32);

/// Index of an expression, location or script in [`Document::exprs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExprIdx(pub u32);

/// Index of a `<data>` declaration in [`Document::data`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataIdx(pub u32);

/// Index of an `<invoke>` in [`Document::invokes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InvokeIdx(pub u32);

/// Index of a `<send>` in [`Document::sends`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SendIdx(pub u32);

/// Index of a Baton extension action in [`Document::extensions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtensionIdx(pub u32);

/// A run of executable content: `instrs[start..end]`. An empty block is `start == end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Block {
    /// First instruction.
    pub start: u32,
    /// One past the last instruction.
    pub end: u32,
}

impl Block {
    /// True if the block has no instructions.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// Which datamodel the document declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatamodelKind {
    /// `datamodel="null"`: no data, only `In()` conditions.
    Null,
    /// `datamodel="ecmascript"` (also the default in Baton).
    Ecmascript,
}

/// Which SCXML a document is written in: W3C's, or Genesys ORS's (see `docs/ors.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// W3C SCXML 1.0: the default.
    W3c,
    /// Genesys ORS 8.1, as Composer writes it: the document declares a
    /// `genesyslab.com/modules/*` namespace or uses `profile=`. Some W3C meanings bend:
    /// `<send event>`, `<send delay>` and `<cancel sendid>` are expressions, and `<raise>`
    /// takes `<param>`s as its event's data.
    Ors,
}

/// `binding="early|late"` on `<scxml>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// All `<data>` values are assigned at session start.
    Early,
    /// A state's `<data>` values are assigned when it is first entered (all variables still
    /// exist, `undefined`, from session start).
    Late,
}

/// What a state is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKind {
    /// `<state>` without child states.
    Atomic,
    /// `<state>` with child states, or the `<scxml>` root.
    Compound,
    /// `<parallel>`.
    Parallel,
    /// `<final>`.
    Final,
    /// `<history type="shallow">`.
    HistoryShallow,
    /// `<history type="deep">`.
    HistoryDeep,
}

/// One state (or the root, or a history pseudo-state).
#[derive(Clone, Debug)]
pub struct State {
    /// The `id`; states without one get a generated id that cannot clash (`__baton_N`).
    pub id: Box<str>,
    /// What it is.
    pub kind: StateKind,
    /// The parent; `None` only for the root (index 0).
    pub parent: Option<StateIdx>,
    /// Nesting depth; the root has depth 0.
    pub depth: u16,
    /// One past the last descendant: descendants are `self+1 .. descendants_end`.
    pub descendants_end: StateIdx,
    /// Child states (including history and final children) in document order.
    pub children: Vec<StateIdx>,
    /// For a compound state: the initial transition (from the `initial` attribute, the
    /// `<initial>` child, or the first child state in document order). For a history state:
    /// its default transition. `None` otherwise.
    pub initial: Option<TransitionIdx>,
    /// This state's own `<transition>`s, in document order.
    pub transitions: Range<u32>,
    /// Each `<onentry>` is a separate block (an error ends only that block).
    pub onentry: Vec<Block>,
    /// Each `<onexit>` is a separate block.
    pub onexit: Vec<Block>,
    /// The `<invoke>`s of this state, in document order.
    pub invokes: Range<u32>,
    /// The `<data>` declared inside this state (for late binding), in document order.
    pub data: Range<u32>,
    /// For a `<final>`: its `<donedata>`.
    pub donedata: Option<DoneData>,
    /// Where the element starts.
    pub position: Position,
}

/// An event descriptor of a transition's `event` attribute, normalised: `*` matches every
/// event; otherwise `prefix` matches an event equal to it or starting with `prefix` + `.`.
/// Trailing `.*` and `.` are removed at compile time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventDescriptor {
    /// `*`.
    Any,
    /// A name prefix made of whole tokens.
    Prefix(Box<str>),
}

impl EventDescriptor {
    /// True if this descriptor matches the event name.
    #[inline]
    pub fn matches(&self, name: &str) -> bool {
        match self {
            EventDescriptor::Any => true,
            EventDescriptor::Prefix(p) => {
                name.len() >= p.len()
                    && name.as_bytes().starts_with(p.as_bytes())
                    && (name.len() == p.len() || name.as_bytes()[p.len()] == b'.')
            }
        }
    }
}

/// `type="external|internal"` of a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionKind {
    /// The default.
    External,
    /// `type="internal"`.
    Internal,
}

/// A transition (also used for initial transitions and history defaults).
#[derive(Clone, Debug)]
pub struct Transition {
    /// The state it belongs to (for an `<initial>` or history default: that pseudo-state's
    /// parent compound state or history state respectively).
    pub source: StateIdx,
    /// Event descriptors; empty means eventless.
    pub events: Vec<EventDescriptor>,
    /// The guard, an [`ExprKind::Cond`] expression.
    pub cond: Option<ExprIdx>,
    /// Targets in document order of the attribute; empty means targetless.
    pub targets: Vec<StateIdx>,
    /// External or internal.
    pub kind: TransitionKind,
    /// The executable content.
    pub body: Block,
    /// Where the element starts.
    pub position: Position,
}

/// How an expression text is used; a datamodel compiles each kind differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExprKind {
    /// An expression producing a value (`expr`, `eventexpr`, `targetexpr`, `delayexpr`...).
    Value,
    /// A boolean condition (`cond`).
    Cond,
    /// A location: something assignable (`location`, `idlocation`, `item`, `index`,
    /// `namelist` entries, `<param location>`).
    Location,
    /// A script body (`<script>` text or loaded `src`).
    Script,
}

/// One expression text, compiled once per document by the datamodel.
#[derive(Clone, Debug)]
pub struct Expr {
    /// The source text as written (entities decoded).
    pub text: Box<str>,
    /// How it is used.
    pub kind: ExprKind,
    /// Where the attribute or element is, for error messages.
    pub position: Position,
}

/// How a `<data>` gets its initial value.
#[derive(Clone, Debug)]
pub enum DataInit {
    /// No `expr`, `src` or content: `undefined`.
    None,
    /// `expr`, evaluated at initialisation (early binding) or first entry (late binding).
    Expr(ExprIdx),
    /// Inline content or content loaded from `src`, converted at compile time: JSON text
    /// becomes a value, element content becomes [`Value::Xml`], other text becomes a
    /// whitespace-normalised string.
    Value(Value),
    /// `src` could not be loaded: initialising raises `error.execution` and leaves the
    /// variable `undefined`.
    LoadError(Box<str>),
}

/// One `<data>` element.
#[derive(Clone, Debug)]
pub struct Data {
    /// The variable name.
    pub id: Box<str>,
    /// How it is initialised.
    pub init: DataInit,
    /// The state it is declared in (0 for the top-level `<datamodel>`).
    pub state: StateIdx,
    /// Where the element is.
    pub position: Position,
}

/// A name/value pair from `<param>`.
#[derive(Clone, Debug)]
pub struct Param {
    /// The `name`.
    pub name: Box<str>,
    /// The `expr` (a [`ExprKind::Value`]) or `location` (a [`ExprKind::Location`], read
    /// as a value).
    pub value: ExprIdx,
}

/// The payload of a `<send>`, `<invoke>` or `<donedata>`.
#[derive(Clone, Debug, Default)]
pub struct Payload {
    /// `namelist` entries: the location text (also the key) and its expression.
    pub namelist: Vec<(Box<str>, ExprIdx)>,
    /// `<param>` children in document order (duplicates kept).
    pub params: Vec<Param>,
    /// `<content>`: literal or `expr`.
    pub content: Option<Content>,
}

/// `<content>`.
#[derive(Clone, Debug)]
pub enum Content {
    /// Literal content, converted at compile time as for [`DataInit::Value`].
    Value(Value),
    /// `<content expr="...">`.
    Expr(ExprIdx),
}

/// `<donedata>` of a final state.
pub type DoneData = Payload;

/// An attribute that is either a literal or an expression (`event`/`eventexpr`...).
#[derive(Clone, Debug)]
pub enum Dyn {
    /// The literal attribute value.
    Literal(Box<str>),
    /// The `...expr` attribute, a [`ExprKind::Value`] expression.
    Expr(ExprIdx),
}

/// One `<send>`.
#[derive(Clone, Debug)]
pub struct Send {
    /// `event` / `eventexpr`; `None` when the content alone is sent.
    pub event: Option<Dyn>,
    /// `target` / `targetexpr`; `None` means this session's external queue.
    pub target: Option<Dyn>,
    /// `type` / `typeexpr`; `None` means the SCXML event I/O processor.
    pub type_: Option<Dyn>,
    /// `id` (literal), `idlocation` (a location to store the generated id), or neither.
    pub id: SendId,
    /// `delay` (a CSS2 time literal, already in ms) or `delayexpr`.
    pub delay: Option<Delay>,
    /// `namelist`, `<param>`, `<content>`.
    pub payload: Payload,
    /// Where the element is.
    pub position: Position,
}

/// How a `<send>` gets its id.
#[derive(Clone, Debug)]
pub enum SendId {
    /// No id: the processor generates one when needed (e.g. for `_event.sendid` of errors).
    None,
    /// `id="..."`.
    Literal(Box<str>),
    /// `idlocation="..."`: generate, then assign to this location.
    Location(ExprIdx),
}

/// A `<send>` delay.
#[derive(Clone, Debug)]
pub enum Delay {
    /// `delay="..."`, parsed at compile time.
    Ms(u64),
    /// `delayexpr="..."`: evaluated, then parsed as a CSS2 time (`"1s"`, `"500ms"`, `".5s"`).
    Expr(ExprIdx),
}

/// One `<invoke>`.
#[derive(Clone, Debug)]
pub struct Invoke {
    /// The state that contains it.
    pub state: StateIdx,
    /// `type` / `typeexpr`; `None` means SCXML.
    pub type_: Option<Dyn>,
    /// `src` / `srcexpr`; `None` when inline `<content>` is used.
    pub src: Option<Dyn>,
    /// `id` / `idlocation` / neither (then `stateid.platformid` is generated).
    pub id: SendId,
    /// `autoforward="true"`.
    pub autoforward: bool,
    /// `namelist`, `<param>`, `<content>`: for SCXML children, `<content>` holds the child
    /// document as [`Value::Xml`] text (or an expression yielding it).
    pub payload: Payload,
    /// `<finalize>`, run on each event from this invocation before it is processed.
    pub finalize: Block,
    /// Where the element is.
    pub position: Position,
}

/// One Baton extension action ([`crate::extension`]), compiled.
#[derive(Clone, Debug)]
pub struct Extension {
    /// Which action.
    pub kind: ActionKind,
    /// One entry per attribute of the action's spec, in spec order: the literal or the
    /// expression the element gives, `None` when it gives neither.
    pub args: Vec<Option<Dyn>>,
    /// `namelist`, `<param>`, `<content>` (empty for actions that take none).
    pub payload: Payload,
    /// `idlocation`: a [`ExprKind::Location`] that receives the action's generated id.
    pub id_location: Option<ExprIdx>,
    /// Where the element is.
    pub position: Position,
}

/// One lowered instruction of executable content.
#[derive(Clone, Debug)]
pub enum Instr {
    /// `<raise event="...">`.
    Raise {
        /// The event name.
        event: Box<str>,
        /// Its data: `<param>`s (ORS documents only; boxed, as it is rare).
        data: Option<Box<Payload>>,
    },
    /// `<log label expr>`.
    Log {
        /// The label.
        label: Option<Box<str>>,
        /// The expression.
        expr: Option<ExprIdx>,
    },
    /// `<assign location expr>`.
    Assign {
        /// A [`ExprKind::Location`].
        location: ExprIdx,
        /// A [`ExprKind::Value`].
        expr: ExprIdx,
    },
    /// `<assign location>` with inline content.
    AssignValue {
        /// A [`ExprKind::Location`].
        location: ExprIdx,
        /// The converted content.
        value: Value,
    },
    /// `<script>`: a [`ExprKind::Script`].
    Script(ExprIdx),
    /// `<if cond>` / `<elseif cond>`: when `cond` is false (or fails), jump to `else_pc`.
    If {
        /// A [`ExprKind::Cond`].
        cond: ExprIdx,
        /// Absolute instruction index to jump to.
        else_pc: u32,
    },
    /// Unconditional jump (end of an `if` branch).
    Jump {
        /// Absolute instruction index.
        pc: u32,
    },
    /// Start of `<foreach>`: evaluate `array`, take a shallow copy; if empty jump to `end_pc`
    /// (the instruction after the matching [`Instr::ForeachNext`]); otherwise assign item 0
    /// (and index 0) and continue with the body.
    ForeachStart {
        /// A [`ExprKind::Value`].
        array: ExprIdx,
        /// A [`ExprKind::Location`] that must be a legal variable name.
        item: ExprIdx,
        /// A [`ExprKind::Location`].
        index: Option<ExprIdx>,
        /// Instruction after the loop.
        end_pc: u32,
    },
    /// End of a `<foreach>` body: advance; if items remain, assign and jump to `body_pc`.
    ForeachNext {
        /// First instruction of the body.
        body_pc: u32,
    },
    /// `<send>`.
    Send(SendIdx),
    /// `<cancel sendid>` / `<cancel sendidexpr>`.
    Cancel(Dyn),
    /// A Baton extension action (an element in a Baton namespace).
    Extension(ExtensionIdx),
    /// An element in another foreign namespace: ignored by the interpreter.
    Foreign {
        /// The element's qualified name.
        name: Box<str>,
    },
}

/// A compiled SCXML document.
#[derive(Clone, Debug)]
pub struct Document {
    /// The file path or URL it was loaded from; used in messages and to resolve `src`.
    pub source_name: Box<str>,
    /// `name` on `<scxml>`, for `_name`.
    pub name: Option<Box<str>>,
    /// The datamodel.
    pub datamodel: DatamodelKind,
    /// W3C's SCXML or ORS's.
    pub dialect: Dialect,
    /// Early or late binding.
    pub binding: Binding,
    /// All states in document order; index 0 is the root.
    pub states: Vec<State>,
    /// All transitions.
    pub transitions: Vec<Transition>,
    /// All executable content.
    pub instrs: Vec<Instr>,
    /// All expression texts.
    pub exprs: Vec<Expr>,
    /// All `<data>` in document order.
    pub data: Vec<Data>,
    /// All `<send>`s.
    pub sends: Vec<Send>,
    /// All `<invoke>`s.
    pub invokes: Vec<Invoke>,
    /// All Baton extension actions.
    pub extensions: Vec<Extension>,
    /// The top-level `<script>`s, run once each, in document order, after the datamodel is
    /// initialised. Each on its own: one that fails does not stop the next, and two may
    /// declare the same function (the later one wins, as in a browser).
    pub scripts: Vec<ExprIdx>,
    /// State id to index (ids of generated states are included).
    pub ids: HashMap<Box<str>, StateIdx>,
    /// Some expression or script mentions `_event`: the datamodel must maintain it.
    pub uses_event: bool,
    /// Some expression or script mentions `In(`: the datamodel needs the configuration.
    pub uses_in: bool,
    /// Every identifier starting with `_` that an expression or script mentions, sorted,
    /// and whether any uses `eval` or `Function` (which could name anything). Hosts read it
    /// through [`Document::mentions`] to skip host values a document never reads.
    pub underscore_names: (Vec<Box<str>>, bool),
}

impl Document {
    /// Whether an expression or script of the document may read `name` (an identifier
    /// starting with `_`, e.g. a host value such as `_interactions`).
    pub fn mentions(&self, name: &str) -> bool {
        let (names, dynamic) = &self.underscore_names;
        *dynamic || names.binary_search_by(|n| (**n).cmp(name)).is_ok()
    }

    /// The state at `idx`.
    #[inline]
    pub fn state(&self, idx: StateIdx) -> &State {
        &self.states[idx.0 as usize]
    }

    /// The transition at `idx`.
    #[inline]
    pub fn transition(&self, idx: TransitionIdx) -> &Transition {
        &self.transitions[idx.0 as usize]
    }

    /// True if `state` is a strict descendant of `ancestor`.
    #[inline]
    pub fn is_descendant(&self, state: StateIdx, ancestor: StateIdx) -> bool {
        state > ancestor && state < self.state(ancestor).descendants_end
    }

    /// Looks up a state by id.
    pub fn state_by_id(&self, id: &str) -> Option<StateIdx> {
        self.ids.get(id).copied()
    }
}
