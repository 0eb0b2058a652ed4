// form.js: a form generated from a message descriptor (GET
// /ui/api/describe/{service}): every field kind, repeated fields and maps
// with add/remove, nested messages, oneofs, well-known types. Each editor
// is {el, get(), set(value)}: get returns the protobuf JSON value, or
// undefined when the field is unset.
import { h, clear, pretty } from './dom.js';

const INT32 = new Set(['int32', 'sint32', 'sfixed32', 'uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);

function changed(el) { el.dispatchEvent(new Event('input', { bubbles: true })); }

function textEditor(attrs, parse = (v) => v, show = (v) => String(v)) {
  const input = h('input', { type: 'text', ...attrs });
  return {
    el: input,
    get: () => (input.value === '' ? undefined : parse(input.value)),
    set: (v) => { input.value = v === undefined || v === null ? '' : show(v); },
  };
}

function numberEditor(kind) {
  const integer = INT32.has(kind);
  const input = h('input', { type: 'number', step: integer ? '1' : 'any', class: 'num', dataset: { kind } });
  if (kind.startsWith('uint') || kind.startsWith('fixed')) input.min = '0';
  return {
    el: input,
    get: () => (input.value === '' ? undefined : Number(input.value)),
    set: (v) => { input.value = v === undefined || v === null ? '' : String(v); },
  };
}

function boolEditor() {
  const input = h('input', { type: 'checkbox' });
  return { el: input, get: () => (input.checked ? true : undefined), set: (v) => { input.checked = v === true; } };
}

function enumEditor(schema, type) {
  const e = schema.enums[type] || { values: [] };
  const select = h('select', { dataset: { enum: type } },
    h('option', { value: '' }, '(unset)'),
    e.values.map((v) => h('option', { value: v.name, title: v.description || '' }, `${v.name} (${v.number})`)));
  return {
    el: select,
    get: () => (select.value === '' ? undefined : select.value),
    set: (v) => {
      if (typeof v === 'number') v = (e.values.find((x) => x.number === v) || {}).name;
      select.value = v === undefined || v === null ? '' : v;
    },
  };
}

function jsonEditor(placeholder, check) {
  const area = h('textarea', { rows: 3, class: 'json-value', placeholder });
  const error = h('span', { class: 'error small' });
  return {
    el: h('span', { class: 'json-field' }, area, error),
    get: () => {
      if (area.value.trim() === '') return undefined;
      try {
        const v = JSON.parse(area.value);
        error.textContent = check && !check(v) ? placeholder : '';
        return v;
      } catch (err) {
        error.textContent = 'not JSON: ' + err.message;
        return undefined;
      }
    },
    set: (v) => { area.value = v === undefined ? '' : pretty(v); },
  };
}

// wellKnown editors, by type.
function wellKnownEditor(type) {
  switch (type) {
    case 'google.protobuf.Timestamp': {
      const input = h('input', { type: 'datetime-local', step: '0.001', dataset: { wkt: 'timestamp' } });
      const now = h('button', { type: 'button', class: 'small', onclick: () => { input.value = new Date().toISOString().slice(0, 23); changed(input); } }, 'now');
      return {
        el: h('span', {}, input, ' UTC ', now),
        get: () => {
          if (!input.value) return undefined;
          let v = input.value;
          if (v.length === 16) v += ':00';
          v = v.replace(/\.0*$/, '').replace(/(\.\d*?)0+$/, '$1');
          return v + 'Z';
        },
        set: (v) => { input.value = typeof v === 'string' ? v.replace(/Z$|[+-]\d\d:\d\d$/, '').slice(0, 23) : ''; },
      };
    }
    case 'google.protobuf.Duration': {
      const input = h('input', { type: 'number', step: 'any', class: 'num', dataset: { wkt: 'duration' } });
      return {
        el: h('span', {}, input, ' seconds'),
        get: () => (input.value === '' ? undefined : `${Number(input.value)}s`),
        set: (v) => { input.value = typeof v === 'string' ? String(parseFloat(v)) : ''; },
      };
    }
    case 'google.protobuf.Int64Value': case 'google.protobuf.UInt64Value':
      return textEditor({ pattern: '-?[0-9]+', placeholder: 'integer (int64, as a string)', dataset: { wkt: 'int64' } });
    case 'google.protobuf.Int32Value': case 'google.protobuf.UInt32Value':
      return numberEditor('int32');
    case 'google.protobuf.FloatValue': case 'google.protobuf.DoubleValue':
      return numberEditor('double');
    case 'google.protobuf.StringValue':
      return textEditor({ placeholder: 'string' });
    case 'google.protobuf.BytesValue':
      return textEditor({ placeholder: 'base64', class: 'bytes' });
    case 'google.protobuf.BoolValue': {
      const select = h('select', {}, h('option', { value: '' }, '(unset)'), h('option', { value: 'true' }, 'true'), h('option', { value: 'false' }, 'false'));
      return { el: select, get: () => (select.value === '' ? undefined : select.value === 'true'), set: (v) => { select.value = v === true ? 'true' : v === false ? 'false' : ''; } };
    }
    case 'google.protobuf.FieldMask':
      return textEditor({ placeholder: 'paths, comma-separated (a.b,c)', dataset: { wkt: 'fieldmask' } });
    case 'google.protobuf.Empty': {
      const box = h('input', { type: 'checkbox' });
      return { el: h('label', {}, box, ' set'), get: () => (box.checked ? {} : undefined), set: (v) => { box.checked = v !== undefined && v !== null; } };
    }
    case 'google.protobuf.Struct':
      return jsonEditor('a JSON object', (v) => v && typeof v === 'object' && !Array.isArray(v));
    case 'google.protobuf.ListValue':
      return jsonEditor('a JSON array', Array.isArray);
    case 'google.protobuf.Any':
      return jsonEditor('{"@type": "type.googleapis.com/pkg.Message", ...fields}', (v) => v && typeof v === 'object' && '@type' in v);
    default:
      return jsonEditor('any JSON value');
  }
}

// singleEditor edits one value of a field's kind (no repetition).
function singleEditor(schema, field, depth) {
  if (field.kind === 'message') {
    const msg = schema.messages[field.type];
    if (!msg || msg.wellKnown) return wellKnownEditor(field.type);
    return messageEditor(schema, field.type, depth + 1);
  }
  if (field.kind === 'enum') return enumEditor(schema, field.type);
  if (field.kind === 'bool') return boolEditor();
  if (field.kind === 'string') return textEditor({ placeholder: 'string' });
  if (field.kind === 'bytes') {
    return textEditor({ placeholder: 'base64', class: 'bytes', pattern: '[A-Za-z0-9+/_=-]*', title: 'base64' });
  }
  if (INT64.has(field.kind)) {
    return textEditor({ placeholder: `${field.kind} (a string in JSON)`, pattern: '-?[0-9]+', dataset: { kind: field.kind } });
  }
  return numberEditor(field.kind);
}

function listEditor(schema, field, depth) {
  const items = [];
  const list = h('div', { class: 'list' });
  const add = (value) => {
    const ed = singleEditor(schema, field, depth);
    if (value !== undefined) ed.set(value);
    const row = h('div', { class: 'item' }, ed.el, h('button', {
      type: 'button', class: 'small remove', title: 'remove',
      onclick: () => { items.splice(items.indexOf(entry), 1); row.remove(); changed(list); },
    }, '−'));
    const entry = { ed, row };
    items.push(entry);
    list.append(row);
  };
  const addButton = h('button', { type: 'button', class: 'small add', onclick: () => { add(); changed(list); } }, '+ add');
  return {
    el: h('div', { class: 'repeated' }, list, addButton),
    get: () => {
      const out = items.map((i) => i.ed.get()).filter((v) => v !== undefined);
      return out.length ? out : undefined;
    },
    set: (v) => {
      items.splice(0).forEach((i) => i.row.remove());
      for (const x of Array.isArray(v) ? v : []) add(x);
    },
  };
}

function mapEditor(schema, field, depth) {
  const items = [];
  const list = h('div', { class: 'list' });
  const keyKind = field.mapKey;
  const add = (key, value) => {
    const keyEd = keyKind === 'bool' ? enumLike(['true', 'false']) : textEditor({ placeholder: `key (${keyKind})`, class: 'map-key' });
    const ed = singleEditor(schema, field, depth);
    if (key !== undefined) keyEd.set(key);
    if (value !== undefined) ed.set(value);
    const row = h('div', { class: 'item' }, keyEd.el, ' → ', ed.el, h('button', {
      type: 'button', class: 'small remove', title: 'remove',
      onclick: () => { items.splice(items.indexOf(entry), 1); row.remove(); changed(list); },
    }, '−'));
    const entry = { keyEd, ed, row };
    items.push(entry);
    list.append(row);
  };
  const addButton = h('button', { type: 'button', class: 'small add', onclick: () => { add(); changed(list); } }, '+ add');
  return {
    el: h('div', { class: 'map' }, list, addButton),
    get: () => {
      const out = {};
      let n = 0;
      for (const i of items) {
        const k = i.keyEd.get();
        const v = i.ed.get();
        if (k === undefined) continue;
        out[k] = v === undefined ? defaultOf(field) : v;
        n++;
      }
      return n ? out : undefined;
    },
    set: (v) => {
      items.splice(0).forEach((i) => i.row.remove());
      for (const [k, x] of Object.entries(v && typeof v === 'object' ? v : {})) add(k, x);
    },
  };
}

function enumLike(values) {
  const select = h('select', {}, values.map((v) => h('option', { value: v }, v)));
  return { el: select, get: () => select.value, set: (v) => { select.value = String(v); } };
}

function defaultOf(field) {
  if (field.kind === 'string' || field.kind === 'bytes') return '';
  if (field.kind === 'bool') return false;
  if (field.kind === 'message') return {};
  if (field.kind === 'enum') return 0;
  if (INT64.has(field.kind)) return '0';
  return 0;
}

function fieldEditor(schema, field, depth) {
  if (field.map) return mapEditor(schema, field, depth);
  if (field.repeated) return listEditor(schema, field, depth);
  return singleEditor(schema, field, depth);
}

function kindLabel(field) {
  let k = field.kind === 'message' || field.kind === 'enum' ? field.type : field.kind;
  if (field.map) k = `map<${field.mapKey}, ${k}>`;
  else if (field.repeated) k = `repeated ${k}`;
  if (field.optional) k = `optional ${k}`;
  return k;
}

function fieldRow(field, editor) {
  return h('div', { class: 'field', dataset: { field: field.jsonName } },
    h('label', { class: 'field-name', title: field.description || '' },
      h('span', {}, field.jsonName), h('span', { class: 'kind' }, ` ${kindLabel(field)} = ${field.number}`)),
    h('div', { class: 'field-input' }, editor.el),
    field.description ? h('div', { class: 'comment' }, field.description) : null);
}

// messageEditor edits a message: its fields, with oneofs as a choice.
export function messageEditor(schema, type, depth = 0) {
  const msg = schema.messages[type];
  if (!msg || msg.wellKnown) return wellKnownEditor(type);
  if (depth > 8) return jsonEditor(`${type} as JSON (nested too deep for the form)`);
  const box = h('div', { class: 'message' + (depth ? ' nested' : ''), dataset: { type } });
  const editors = [];
  const oneofs = new Map((msg.oneofs || []).map((o) => [o.name, o]));
  const done = new Set();
  for (const field of msg.fields) {
    if (field.oneof && oneofs.has(field.oneof)) {
      if (done.has(field.oneof)) continue;
      done.add(field.oneof);
      const o = oneofs.get(field.oneof);
      const members = msg.fields.filter((f) => f.oneof === o.name);
      const slots = new Map();
      const holder = h('div', { class: 'oneof-field' });
      const select = h('select', { class: 'oneof', dataset: { oneof: o.name } },
        h('option', { value: '' }, '(none)'), members.map((f) => h('option', { value: f.jsonName }, f.jsonName)));
      const show = () => {
        clear(holder);
        const f = members.find((m) => m.jsonName === select.value);
        if (!f) return;
        if (!slots.has(f.jsonName)) slots.set(f.jsonName, fieldEditor(schema, f, depth));
        holder.append(fieldRow(f, slots.get(f.jsonName)));
      };
      select.addEventListener('change', () => { show(); changed(select); });
      box.append(h('div', { class: 'field oneof-group', dataset: { field: o.name } },
        h('label', { class: 'field-name' }, h('span', {}, o.name), h('span', { class: 'kind' }, ' oneof: pick one')),
        h('div', { class: 'field-input' }, select), holder));
      editors.push({
        get: (out) => {
          const ed = slots.get(select.value);
          const v = ed && ed.get();
          if (select.value) {
            const f = members.find((m) => m.jsonName === select.value);
            out[select.value] = v === undefined ? defaultOf(f) : v;
          }
        },
        set: (value) => {
          const f = members.find((m) => value[m.jsonName] !== undefined || value[m.name] !== undefined);
          select.value = f ? f.jsonName : '';
          show();
          if (f) slots.get(f.jsonName).set(value[f.jsonName] !== undefined ? value[f.jsonName] : value[f.name]);
        },
      });
      continue;
    }
    const ed = fieldEditor(schema, field, depth);
    box.append(fieldRow(field, ed));
    editors.push({
      get: (out) => {
        const v = ed.get();
        if (v !== undefined) out[field.jsonName] = v;
      },
      set: (value) => ed.set(value[field.jsonName] !== undefined ? value[field.jsonName] : value[field.name]),
    });
  }
  if (!msg.fields.length) box.append(h('p', { class: 'muted' }, `${type} has no fields.`));
  return {
    el: box,
    get: () => {
      const out = {};
      for (const e of editors) e.get(out);
      return depth && !Object.keys(out).length ? undefined : out;
    },
    set: (v) => { const value = v && typeof v === 'object' ? v : {}; for (const e of editors) e.set(value); },
  };
}

// schemaView shows a message's fields with their comments, recursively.
export function schemaView(schema, type, seen = new Set()) {
  const msg = schema.messages[type];
  if (!msg) return h('code', {}, type);
  if (msg.wellKnown) return h('code', {}, type);
  if (seen.has(type)) return h('code', {}, `${type} (see above)`);
  seen = new Set(seen).add(type);
  return h('div', { class: 'schema' },
    h('div', {}, h('code', { class: 'type' }, type)),
    msg.description ? h('div', { class: 'comment' }, msg.description) : null,
    h('ul', {}, msg.fields.map((f) => h('li', {},
      h('code', {}, f.jsonName), h('span', { class: 'kind' }, ` ${kindLabel(f)} = ${f.number}`),
      f.oneof ? h('span', { class: 'kind' }, ` (oneof ${f.oneof})`) : null,
      f.description ? h('div', { class: 'comment' }, f.description) : null,
      f.kind === 'enum' && schema.enums[f.type] ? h('div', { class: 'comment' }, 'values: ' + schema.enums[f.type].values.map((v) => v.name).join(', ')) : null,
      f.kind === 'message' && schema.messages[f.type] && !schema.messages[f.type].wellKnown ? schemaView(schema, f.type, seen) : null))));
}
