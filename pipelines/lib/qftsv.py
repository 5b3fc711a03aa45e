"""qftsv.py - qf's TSV tables, for the Python helpers of pipelines/.

A table a qf tool writes (formats/provenance.md) is UTF-8 text, a line
a row, each ended by a newline:

    # qf=0.1.0 tool=qf-eval ...    the provenance line (absent in tables
                                   not made by a qf tool)
    lang<TAB>model<TAB>...         the header
    eng<TAB>ref<TAB>...            the rows, as many fields as the header

Lines that start with '#' are comments wherever they stand, as pandas'
comment="#" and awk's /^#/ { next } read them.  Cells are kept as the
strings written; NA is a cell without a value.  Standard library only:

    sys.dont_write_bytecode = True    # no __pycache__ in pipelines/lib
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import qftsv
"""
import os

NA = "NA"


class Error(Exception):
    """a table that cannot be read or used: one line, 'PATH: what'"""

    def __init__(self, path, msg):
        super().__init__("%s: %s" % (path, msg))


class Table:
    """A table read whole.

    path      the file
    prov      its provenance line without the '# ' (None when it has none)
    comments  its comment lines, as they are
    head      the header's column names
    rows      the rows, lists of strings
    lines     the line number in the file of each row
    index     column name -> position (the first column of that name)

    An unreadable file raises OSError; one that is not UTF-8, has no
    header or a row with another number of fields than the header,
    Error.
    """

    def __init__(self, path):
        self.path = path
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError:
            raise Error(path, "not UTF-8 text") from None
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        self.prov = lines[0][2:] if lines and lines[0].startswith("# qf=") else None
        self.comments = [l for l in lines if l.startswith("#")]
        body = [(n, l) for n, l in enumerate(lines, 1) if not l.startswith("#")]
        if not body or body[0][1] == "":
            raise Error(path, "empty table (no header line)")
        self.head = body[0][1].split("\t")
        self.rows = []
        self.lines = []
        for n, line in body[1:]:
            r = line.split("\t")
            if len(r) != len(self.head):
                raise Error(path, "line %d: %d columns, the header has %d"
                            % (n, len(r), len(self.head)))
            self.rows.append(r)
            self.lines.append(n)
        self.index = {}
        for i, h in enumerate(self.head):
            self.index.setdefault(h, i)

    def need(self, *names):
        """Error unless the table has every column in names"""
        for n in names:
            if n not in self.index:
                raise Error(self.path, "no column '%s'" % n)

    def col(self, name):
        """the position of column name"""
        self.need(name)
        return self.index[name]

    def dicts(self):
        """the rows as dicts, column name -> cell"""
        return [{h: r[i] for h, i in self.index.items()} for r in self.rows]


def kernels(prov):
    """a provenance line less the tool: what a table's figures depend on"""
    if prov is None:
        return None
    return " ".join(w for w in prov.split(" ") if not w.startswith("tool="))


def same_kernels(tables):
    """the kernels of tables (Table), which must be the same: tables made
    with different kernels are never merged or compared"""
    first = kernels(tables[0].prov)
    for t in tables[1:]:
        if kernels(t.prov) != first:
            raise Error(t.path, "made with '%s', but %s with '%s': tables made "
                        "with different kernels do not mix"
                        % (kernels(t.prov) or "no provenance line", tables[0].path,
                           first or "no provenance line"))
    return first


def text(head, rows, prov=None):
    """a table as text: the provenance line prov (when given), the header
    and the rows"""
    lines = ([] if prov is None else ["# " + prov]) + ["\t".join(r) for r in [head] + rows]
    return "".join(l + "\n" for l in lines)


def write(path, head, rows, prov=None):
    """text(head, rows, prov) written to path, whole: under the name
    path.tmp first, then renamed"""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text(head, rows, prov))
    os.replace(tmp, path)
