#!/usr/bin/env node
// gen_fuzz_seeds.js - seeds for tests/fuzz/fuzz_tokenizer.c, written into
// tests/fuzz/corpus/tokenizer/ (see the harness for the input layout):
// texts from expected.json, and small vocabularies made of the 256 byte
// tokens and GPT-2's first merges, as encoder.json + vocab.bpe and as
// tokenizer.json.  Every seed is well under 200 KB.
//
//   node gen_fuzz_seeds.js
'use strict';
const fs = require('fs');
const path = require('path');

const top = path.join(__dirname, '../../..');
const out = path.join(top, 'tests/fuzz/corpus/tokenizer');
fs.mkdirSync(out, { recursive: true });
const seed = (name, mode, ...parts) =>
	fs.writeFileSync(path.join(out, name), Buffer.concat([Buffer.from([mode]),
		...parts.map(p => Buffer.isBuffer(p) ? p : Buffer.from(p, 'utf8'))]));

// texts
const exp = JSON.parse(fs.readFileSync(path.join(__dirname, 'expected.json'), 'utf8'));
const pick = ['english', 'contractions-edge', 'crlf', 'mixed-ws', 'nbsp',
	'unicode-spaces', 'not-spaces', 'digits-other', 'numbers-no-nl', 'hindi',
	'thai', 'burmese', 'japanese', 'emoji', 'combining', 'astral-letters',
	'controls', 'commas', 'udhr-tam', 'udhr-kat', 'udhr-amh'];
for (const c of exp.cases.filter(c => pick.includes(c.name)))
	seed('text-' + c.name, 0, c.text);
for (const c of exp.divergent)
	seed('text-' + c.name, 0, c.text);
seed('text-invalid-utf8', 0, Buffer.from([0x61, 0xff, 0x20, 0xc3, 0x28, 0xe0, 0xb8, 0x20,
	0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0x27, 0x73, 0xc0, 0xaf]));

// small vocabularies: bytes + the first K merges of GPT-2
function alphabet() {
	const m = [];
	let n = 0;
	for (let b = 0; b < 256; b++) {
		const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
		m.push(String.fromCodePoint(printable ? b : 256 + n++));
	}
	return m;
}
const merges = fs.readFileSync(path.join(top, 'pipelines/data/gpt2/vocab.bpe'), 'utf8')
	.split('\n').slice(1, -1).map(l => l.split(' '));
function vocab(k) {
	const v = {};
	alphabet().forEach((s, i) => { v[s] = i; });
	let id = 256;
	for (const [a, b] of merges.slice(0, k))
		if (!(a + b in v))
			v[a + b] = id++;
	return v;
}
for (const k of [0, 40, 400]) {
	const v = vocab(k);
	const bpe = '#version: 0.2\n' + merges.slice(0, k).map(m => m.join(' ') + '\n').join('');
	seed(`gpt2-${k}`, 1, JSON.stringify(v), Buffer.from([0]), bpe);
}
{
	const v = vocab(30);
	seed('gpt2-crlf-noheader', 1, JSON.stringify(v, null, 1), Buffer.from([0]),
		merges.slice(0, 30).map(m => m.join(' ') + '\r\n').join(''));
}
for (const [k, pairs] of [[60, false], [300, true]]) {
	const m = merges.slice(0, k);
	const tj = {
		version: '1.0', added_tokens: [], normalizer: null,
		pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
		post_processor: null, decoder: { type: 'ByteLevel' },
		model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '',
			end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab: vocab(k),
			merges: pairs ? m : m.map(x => x.join(' ')) },
	};
	seed(`hf-${k}${pairs ? '-pairs' : ''}`, 2, JSON.stringify(tj));
}
