// The shard's JavaScript realm setup, evaluated once per datamodel (see realm.rs).
//
// It installs the deterministic clock and random source, `In`, a small read-only DOM for XML
// values, and then freezes every intrinsic reachable from the global object (and the hidden
// ones, such as the generator prototypes), so that the sessions sharing this realm cannot
// change anything another session can see. It returns the helpers the Rust side calls and
// the (unfrozen, unreachable) object that holds host functions.
(function (nowMs, random, inState) {
  "use strict";
  const G = globalThis;
  const { create, defineProperty, freeze, getPrototypeOf, getOwnPropertyDescriptor } = Object;
  const { apply, construct, ownKeys } = Reflect;
  const isArray = Array.isArray;
  const arrayFrom = Array.from;
  const slice = Array.prototype.slice;
  const push = Array.prototype.push;
  const toText = String;
  const TypeErr = TypeError;
  const RealDate = Date;
  const dateToString = RealDate.prototype.toString;
  const iteratorKey = Symbol.iterator;

  // --- Clock and randomness: read the injected values so that runs replay. ---
  const BatonDate = function Date(...args) {
    if (new.target === undefined) {
      return apply(dateToString, construct(RealDate, [nowMs()]), []);
    }
    return construct(RealDate, args.length === 0 ? [nowMs()] : args, new.target);
  };
  defineProperty(BatonDate, "prototype", { value: RealDate.prototype });
  defineProperty(BatonDate, "length", { value: 7 });
  defineProperty(RealDate.prototype, "constructor", { value: BatonDate });
  BatonDate.now = function now() { return nowMs(); };
  BatonDate.parse = RealDate.parse;
  BatonDate.UTC = RealDate.UTC;
  defineProperty(G, "Date", { value: BatonDate });
  defineProperty(Math, "random", { value: random });
  defineProperty(G, "performance", {
    value: { now: function now() { return nowMs(); }, timeOrigin: 0 },
  });
  defineProperty(G, "In", { value: inState, enumerable: false });
  // SpiderMonkey's `toSource`, which ORS had and Composer's error logs call
  // (`_event.toSource()`): the JSON text in parentheses, close to SpiderMonkey's form.
  defineProperty(Object.prototype, "toSource", {
    value: function toSource() {
      try {
        const text = JSON.stringify(this);
        return text === undefined ? String(this) : "(" + text + ")";
      } catch (e) {
        return String(this);
      }
    },
  });

  // --- DOM: read-only views of XML values. Nodes are plain objects on one prototype. ---
  const NAMES = { 3: "#text", 4: "#cdata-section", 8: "#comment" };

  function childrenOf(node) {
    const kids = node.childNodes;
    return isArray(kids) ? kids : [];
  }

  function pushReversed(stack, kids) {
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]);
  }

  function sibling(node, step) {
    const parent = node.parentNode;
    if (!parent) return null;
    const kids = childrenOf(parent);
    const i = kids.indexOf(node);
    return i >= 0 && i + step >= 0 && i + step < kids.length ? kids[i + step] : null;
  }

  function escapeText(s) {
    return toText(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function escapeAttr(s) {
    return escapeText(s).replace(/"/g, "&quot;");
  }

  // Serialises a node to XML text without recursion (documents can be deep).
  function serialize(root) {
    let out = "";
    const stack = [root];
    while (stack.length) {
      const n = stack.pop();
      if (typeof n === "string") { out += n; continue; }
      if (n === null || typeof n !== "object") continue;
      switch (n.nodeType) {
        case 1: {
          out += "<" + n.nodeName;
          const attrs = isArray(n.attributes) ? n.attributes : [];
          for (let i = 0; i < attrs.length; i++) {
            out += " " + attrs[i].name + "=\"" + escapeAttr(attrs[i].value) + "\"";
          }
          const kids = childrenOf(n);
          if (kids.length === 0) { out += "/>"; break; }
          out += ">";
          stack.push("</" + n.nodeName + ">");
          pushReversed(stack, kids);
          break;
        }
        case 3: out += escapeText(n.data); break;
        case 4: out += "<![CDATA[" + n.data + "]]>"; break;
        case 7: out += "<?" + n.target + (n.data ? " " + n.data : "") + "?>"; break;
        case 8: out += "<!--" + n.data + "-->"; break;
        default: pushReversed(stack, childrenOf(n)); break;
      }
    }
    return out;
  }

  const Node = {
    get firstChild() { const k = childrenOf(this); return k.length ? k[0] : null; },
    get lastChild() { const k = childrenOf(this); return k.length ? k[k.length - 1] : null; },
    get nextSibling() { return sibling(this, 1); },
    get previousSibling() { return sibling(this, -1); },
    get children() { return childrenOf(this).filter((n) => n.nodeType === 1); },
    get textContent() {
      if (this.nodeType === 9) return null;
      if (this.nodeType !== 1) return this.data;
      let out = "";
      const stack = [];
      pushReversed(stack, childrenOf(this));
      while (stack.length) {
        const n = stack.pop();
        if (n.nodeType === 3 || n.nodeType === 4) out += n.data;
        else if (n.nodeType === 1) pushReversed(stack, childrenOf(n));
      }
      return out;
    },
    hasChildNodes() { return childrenOf(this).length > 0; },
    getElementsByTagName(name) {
      const wanted = toText(name);
      const out = [];
      const stack = [];
      pushReversed(stack, childrenOf(this));
      while (stack.length) {
        const n = stack.pop();
        if (n === null || typeof n !== "object" || n.nodeType !== 1) continue;
        if (wanted === "*" || n.nodeName === wanted) out.push(n);
        pushReversed(stack, childrenOf(n));
      }
      return out;
    },
    getAttributeNode(name) {
      const wanted = toText(name);
      const attrs = isArray(this.attributes) ? this.attributes : [];
      for (let i = 0; i < attrs.length; i++) if (attrs[i].name === wanted) return attrs[i];
      return null;
    },
    getAttribute(name) { const a = this.getAttributeNode(name); return a ? a.value : null; },
    hasAttribute(name) { return this.getAttributeNode(name) !== null; },
    toString() { return serialize(this); },
  };

  function split(name) {
    const colon = name.indexOf(":");
    return colon < 0 ? [null, name] : [name.slice(0, colon), name.slice(colon + 1)];
  }

  function makeAttr(name, value) {
    const [prefix, localName] = split(name);
    return { nodeType: 2, name, nodeName: name, localName, prefix, value, nodeValue: value };
  }

  function makeElement(name, attrs, parentNode) {
    const [prefix, localName] = split(name);
    const attributes = [];
    for (let j = 0; j + 1 < attrs.length; j += 2) attributes.push(makeAttr(attrs[j], attrs[j + 1]));
    return {
      __proto__: Node, nodeType: 1, nodeName: name, tagName: name, localName, prefix,
      nodeValue: null, attributes, childNodes: [], parentNode,
    };
  }

  // Builds a document from the flat records the Rust XML reader produces: per node
  // [type, parent index, name, value, attributes], parents before children, node 0 the
  // document itself.
  function buildDom(flat) {
    const nodes = [];
    for (let i = 0; i + 4 < flat.length; i += 5) {
      const type = flat[i];
      const parentNode = flat[i + 1] >= 0 ? nodes[flat[i + 1]] : null;
      let node;
      if (type === 9) {
        node = {
          __proto__: Node, nodeType: 9, nodeName: "#document", nodeValue: null,
          childNodes: [], parentNode: null, documentElement: null,
        };
      } else if (type === 1) {
        node = makeElement(flat[i + 2], flat[i + 4], parentNode);
      } else {
        const data = flat[i + 3];
        node = {
          __proto__: Node, nodeType: type, nodeName: NAMES[type] || flat[i + 2], data,
          nodeValue: data, childNodes: [], parentNode,
        };
        if (type === 7) node.target = flat[i + 2];
      }
      if (parentNode) {
        parentNode.childNodes.push(node);
        if (type === 1 && parentNode.nodeType === 9 && parentNode.documentElement === null) {
          parentNode.documentElement = node;
        }
      }
      nodes.push(node);
    }
    return nodes[0];
  }

  // --- Helpers the Rust side calls. ---

  // How to convert an object to a plain value: 0 skip (function), 1 array, 2 DOM node,
  // 3 has toJSON, 4 plain object.
  function kindOf(v) {
    if (typeof v === "function") return 0;
    if (getPrototypeOf(v) === Node) return 2;
    if (isArray(v)) return 1;
    if (typeof v.toJSON === "function") return 3;
    return 4;
  }

  function callToJSON(v, key) {
    return v.toJSON(key);
  }

  const toWellFormed = String.prototype.toWellFormed;
  function wellFormed(s) {
    if (typeof toWellFormed === "function") return apply(toWellFormed, s, []);
    return toText(s).replace(/[\uD800-\uDFFF]/g, "\uFFFD");
  }

  // The value of `_event`, which the datamodel defines read-only on the scope. Its fields
  // are plain properties: building a frozen object costs a new shape per event.
  function makeEvent(name, type, sendid, origin, origintype, invokeid, data, raw) {
    return { name, type, sendid, origin, origintype, invokeid, data, raw };
  }

  // QuickJS shares an object layout ("shape") between objects only while some object
  // holds it, and builds a literal one property at a time. Keeping one object of every
  // prefix alive lets each event object and descriptor reuse shapes instead of allocating.
  const shapes = [
    { name: 0 }, { name: 0, type: 0 }, { name: 0, type: 0, sendid: 0 },
    { name: 0, type: 0, sendid: 0, origin: 0 },
    { name: 0, type: 0, sendid: 0, origin: 0, origintype: 0 },
    { name: 0, type: 0, sendid: 0, origin: 0, origintype: 0, invokeid: 0 },
    { name: 0, type: 0, sendid: 0, origin: 0, origintype: 0, invokeid: 0, data: 0 },
    { name: 0, type: 0, sendid: 0, origin: 0, origintype: 0, invokeid: 0, data: 0, raw: 0 },
    { value: 0 }, { value: 0, configurable: true }, { value: 0, enumerable: true },
  ];

  // A shallow copy of a `<foreach>` array: arrays, typed arrays, iterables and array-likes.
  function copyList(v) {
    if (isArray(v)) return apply(slice, v, []);
    if (v !== null && typeof v === "object") {
      if (typeof v[iteratorKey] === "function") return arrayFrom(v);
      const n = v.length;
      if (typeof n === "number" && n >= 0 && n === Math.floor(n)) return arrayFrom(v);
    }
    throw new TypeErr("foreach: the array expression is not an iterable collection");
  }

  // --- Hardening. ---

  // The override mistake: once `Object.prototype.toString` is frozen, strict code cannot
  // give its own objects a `toString` by assignment. An accessor that defines the
  // property on the receiver restores that, while the intrinsic itself stays unchangeable.
  function enableOverride(obj, key) {
    const d = getOwnPropertyDescriptor(obj, key);
    if (d === undefined || !("value" in d) || !d.writable) return;
    const value = d.value;
    defineProperty(obj, key, {
      get: function () { return value; },
      set: function (v) {
        if (this === obj) throw new TypeErr("Cannot assign to read only property '" + key + "'");
        const own = { value: v, writable: true, enumerable: true, configurable: true };
        defineProperty(this, key, own);
      },
      enumerable: d.enumerable,
      configurable: false,
    });
  }

  const OVERRIDES = [
    [Object.prototype, ["constructor", "toString", "toLocaleString", "valueOf",
      "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable"]],
    [Function.prototype, ["constructor", "toString"]],
  ];
  const errors = [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError,
    URIError, AggregateError];
  for (let i = 0; i < errors.length; i++) {
    push.call(OVERRIDES, [errors[i].prototype, ["constructor", "name", "message", "toString"]]);
  }
  for (let i = 0; i < OVERRIDES.length; i++) {
    const [obj, keys] = OVERRIDES[i];
    for (let j = 0; j < keys.length; j++) enableOverride(obj, keys[j]);
  }

  // Intrinsics that no global property leads to.
  function hiddenRoots() {
    const roots = [
      function* () {}, async function () {}, async function* () {},
      [][iteratorKey](), new Map()[iteratorKey](), new Set()[iteratorKey](),
      ""[iteratorKey](), /a/[Symbol.matchAll]("a"), getPrototypeOf(Int8Array),
      (function* () {})(), (async function* () {})(),
    ];
    if (typeof Iterator === "function" && typeof Iterator.prototype.map === "function") {
      roots.push([].values().map((x) => x));
    }
    if (typeof Iterator === "function" && typeof Iterator.from === "function") {
      roots.push(Iterator.from({ next() { return { done: true }; } }));
    }
    return roots;
  }

  // Freezes everything reachable from the roots through properties, accessors and
  // prototypes. Iterative: the object graph of the intrinsics is wide but shallow.
  function harden(roots) {
    const seen = new Set();
    const stack = roots;
    while (stack.length) {
      const o = stack.pop();
      if (o === null || (typeof o !== "object" && typeof o !== "function")) continue;
      if (seen.has(o)) continue;
      seen.add(o);
      stack.push(getPrototypeOf(o));
      const keys = ownKeys(o);
      for (let i = 0; i < keys.length; i++) {
        const d = getOwnPropertyDescriptor(o, keys[i]);
        if (d === undefined) continue;
        if ("value" in d) stack.push(d.value);
        else { stack.push(d.get); stack.push(d.set); }
      }
      freeze(o);
    }
  }

  const helpers = {
    makeEvent, copyList, buildDom, serialize, kindOf, callToJSON, wellFormed,
  };
  const roots = hiddenRoots();
  roots.push(G, helpers, Node);
  harden(roots);
  // Host functions (`_statistics`) are installed after setup, so they cannot live on the
  // frozen global object: every expression resolves names through this object, just
  // outside the session's scope. Scripts never get a reference to it, so they cannot add
  // to it, and the Rust side defines its properties read-only and freezes each function.
  const host = create(null);
  return { helpers, shapes, host };
})
