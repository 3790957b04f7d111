"""The report page: one self-contained HTML file a person reads (reports/index.html).

    inputs.py      what the stages wrote, read back: summary, dvclive curves, confusion CSVs,
                   the translator's files, the champion record
    figures.py     matplotlib figures as PNG bytes (no pyplot, no display)
    provenance.py  the commit, the prepared data's hashes, the params that differ from defaults
    html.py        small HTML pieces: escaping, tables, inlined images, notes
    sections.py    the page's sections, each from what it reads (a note where that is absent)
    page.py        the whole document: title, header, CSS, the sections in order

The core of the page is gantl.report's table (the CLI's), with published rows beside it. Images
are inlined as base64 PNGs, so the file reads offline and needs no JavaScript.
"""
