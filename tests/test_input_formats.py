"""Articles in from the formats they come in: HTML pages, PDF reports, tables of articles, and a .txt's
publication date from front matter or a sidecar, on real documents (tests/data/formats/SOURCE.md)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import lxml.html
import pandas as pd
import pytest
from pypdf import PdfReader, PdfWriter

from llm_extract.core.errors import ConfigError
from llm_extract.inputs.documents import Document, InputFailure, iter_inputs
from llm_extract.inputs.tables import parse_columns

DATA = Path(__file__).parent / "data" / "formats"
TSNE = DATA / "html" / "en.wikipedia.org.tsne.html"
CC_ABOUT = DATA / "html" / "creativecommons.org.about.html"
REPORT = DATA / "pdf" / "ssi_manwaring.pdf"
SCANNED = DATA / "pdf" / "imagemagick-lzw.pdf"
ENCRYPTED = DATA / "pdf" / "libreoffice-writer-password.pdf"
SEEDS = sorted((Path(__file__).parents[1] / "evals" / "seeds" / "docs").glob("*.txt"))


def _one(path: Path) -> Document | InputFailure:
    (item,) = iter_inputs([path])
    return item


def _document(path: Path) -> Document:
    item = _one(path)
    assert isinstance(item, Document), item
    return item


def _words(html: Path) -> str:
    """The page's visible words, as a browser shows them (scripts and styles left out)."""
    root = lxml.html.fromstring(html.read_bytes())
    for element in root.xpath("//script|//style"):
        element.drop_tree()
    return " ".join(root.text_content().split())


# HTML


def test_a_wikipedia_page_gives_its_article_without_the_wiki_around_it() -> None:
    page = _document(TSNE)
    assert "is a machine learning algorithm for visualization developed by Laurens van der Maaten" in page.text
    for boilerplate in ("Jump to navigation", "Navigation menu", "Donate to Wikipedia", "This page was last edited"):
        assert boilerplate in _words(TSNE), "the page must hold the boilerplate for its absence to mean anything"
        assert boilerplate not in page.text
    assert page.title == "T-distributed stochastic neighbor embedding"
    assert page.published == "2013-06-23"  # the page's JSON-LD datePublished
    assert page.url == "https://en.wikipedia.org/wiki/T-distributed_stochastic_neighbor_embedding"
    assert page.id == "en.wikipedia.org.tsne" and page.origin == str(TSNE) and page.pages == ()


def test_a_page_without_a_stated_date_gets_none_rather_than_a_guess() -> None:
    page = _document(CC_ABOUT)
    assert "Creative Commons provides free, easy-to-use copyright licenses" in page.text
    for boilerplate in ("Skip to content", "Donate Now", "Find news by topic", "We'd love to hear from you!"):
        assert boilerplate in _words(CC_ABOUT)
        assert boilerplate not in page.text
    assert page.title == "What we do - Creative Commons"
    assert page.url == "https://creativecommons.org/about/"
    assert page.published is None, "the markup states no publication date; dates in the text are not taken"


def test_an_html_page_without_main_text_is_a_failure_saying_so(tmp_path: Path) -> None:
    menu = tmp_path / "menu.html"
    menu.write_text("<html><head><title>News</title></head><body><nav><a href='/'>Home</a></nav></body></html>")
    empty = tmp_path / "empty.htm"
    empty.write_bytes(b"")
    for path in (menu, empty):
        item = _one(path)
        assert isinstance(item, InputFailure) and item.origin == str(path)
        assert item.reason.startswith("no main text found in the HTML page")


def test_an_article_page_with_ads_and_a_share_bar_keeps_only_the_article(tmp_path: Path) -> None:
    """Seed 000's own boilerplate ("Newsweek cover • Enjoy ad-free browsing") around its real text."""
    paragraphs = [p for p in SEEDS[0].read_text(encoding="utf-8").split("\n\n") if p.strip()]
    body = "".join(f"<p>{p}</p>" for p in paragraphs[1:8])
    page = tmp_path / "seed000.html"
    page.write_text(
        "<html><head><title>Militia Threatens More Attacks</title>"
        '<meta property="article:published_time" content="2023-10-19T10:00:00Z">'
        '<link rel="canonical" href="https://example.org/militia"></head><body>'
        "<header><nav><a href='/'>Home</a> <a href='/world'>World</a></nav></header>"
        "<div class='promo'><a href='/subscribe'>Newsweek cover • Enjoy ad-free browsing</a></div>"
        f"<article><h1>{paragraphs[0]}</h1>{body}</article>"
        "<div class='share'><ul><li><a href='https://twitter.com/share'>Share on Twitter</a></li>"
        "<li><a href='https://facebook.com/sharer'>Share on Facebook</a></li></ul></div>"
        "<footer><a href='/privacy'>Privacy policy</a></footer></body></html>",
        encoding="utf-8",
    )
    item = _document(page)
    assert paragraphs[1] in item.text and paragraphs[7] in item.text
    for boilerplate in ("Enjoy ad-free browsing", "Share on Twitter", "Privacy policy", "World"):
        assert boilerplate not in item.text
    assert (item.published, item.url) == ("2023-10-19", "https://example.org/militia")


# PDF

FOREWORD = "In December 1998, the U.S. Army War College joined"


def test_a_pdf_report_is_read_page_by_page_and_offsets_map_to_pages() -> None:
    report = _document(REPORT)
    assert len(report.pages) == 88 and report.pages[0] == 0
    assert report.title == (
        "Security and Civil-Military Relations in the New World Disorder: The Use of Armed Forces in the Americas"
    )
    assert report.published is None, "a PDF's creation date is not its publication date"
    reader = PdfReader(REPORT)
    for number in (1, 4, 45, 88):  # each page's own text sits where its page starts
        page_text = reader.pages[number - 1].extract_text()
        start = report.pages[number - 1]
        assert report.text[start : start + len(page_text)] == page_text
    offset = report.text.index(FOREWORD)
    assert report.page_at(offset) == 4 and report.page_at(0) == 1
    assert report.page_at(len(report.text) - 1) == 88 and report.page_at(report.pages[44]) == 45
    assert report.page_at(report.pages[44] - 1) == 44


def test_a_document_without_pages_maps_no_offset() -> None:
    assert _document(TSNE).page_at(10) is None


def test_a_scanned_pdf_is_a_failure_saying_it_has_no_text_layer() -> None:
    item = _one(SCANNED)
    assert isinstance(item, InputFailure) and item.origin == str(SCANNED)
    assert item.reason.startswith("no text layer in the PDF (1 page without text: a scanned document?)")
    assert "OCR is not done" in item.reason


def test_a_pdf_that_needs_a_password_is_a_failure_saying_so() -> None:
    item = _one(ENCRYPTED)
    assert isinstance(item, InputFailure)
    assert item.reason.startswith("encrypted PDF that needs a password to open")


def _report_pages(*numbers: int) -> PdfWriter:
    writer = PdfWriter()
    reader = PdfReader(REPORT)
    for number in numbers:
        writer.add_page(reader.pages[number - 1])
    return writer


def test_a_pdf_encrypted_with_an_empty_user_password_is_read_and_noted(tmp_path: Path) -> None:
    writer = _report_pages(4)
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    path = tmp_path / "restricted.pdf"
    writer.write(path)
    item = _document(path)
    assert FOREWORD in item.text
    assert item.notes == ("encrypted PDF with an empty user password: read",)


def test_pages_without_text_are_named_in_a_note(tmp_path: Path) -> None:
    writer = _report_pages(4)
    writer.add_page(PdfReader(SCANNED).pages[0])
    writer.add_page(PdfReader(REPORT).pages[4])
    path = tmp_path / "mixed.pdf"
    writer.write(path)
    item = _document(path)
    assert item.notes == ("no text layer on page 2 of 3",)
    assert len(item.pages) == 3 and item.page_at(item.text.index(FOREWORD)) == 1


def test_a_damaged_pdf_is_a_failure_naming_it(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(REPORT.read_bytes()[:2000])
    header_only = tmp_path / "header.pdf"
    header_only.write_bytes(b"%PDF-1.4")
    for path in (truncated, header_only):
        item = _one(path)
        assert isinstance(item, InputFailure) and item.origin == str(path)
        assert item.reason.startswith("not a readable PDF (")


# Tables of articles


def _seed_rows() -> list[dict[str, str]]:
    return [
        {
            "id": f"seed-{number}",
            "text": path.read_text(encoding="utf-8"),
            "published": f"2023-10-{18 + number:02d}",
            "url": f"https://example.org/{path.stem}",
            "source": "wire",
        }
        for number, path in enumerate(SEEDS)
    ]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".xlsx"])
def test_a_table_of_articles_gives_one_document_per_row(tmp_path: Path, suffix: str) -> None:
    rows = _seed_rows()
    path = tmp_path / f"articles{suffix}"
    frame = pd.DataFrame(rows)
    if suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    items = list(iter_inputs([path]))
    assert all(isinstance(item, Document) for item in items) and len(items) == len(SEEDS) == 5
    for number, (item, row) in enumerate(zip(items, rows, strict=True)):
        assert isinstance(item, Document)
        assert (item.id, item.published, item.url, item.source) == (row["id"], row["published"], row["url"], "wire")
        assert item.text == row["text"], "multi-line article text survives the table"
        assert item.origin == f"{path}:{number + 2}", "rows are numbered as a spreadsheet shows them"


def test_columns_are_mapped_and_an_excel_date_cell_gives_its_date(tmp_path: Path) -> None:
    rows = _seed_rows()[:2]
    frame = pd.DataFrame(
        {
            "ID": [row["id"] for row in rows],
            "Body": [row["text"] for row in rows],
            "Date": [pd.Timestamp("2023-10-18"), pd.Timestamp("2023-10-19 14:30")],
            "Link": ["https://example.org/a", ""],
        }
    )
    path = tmp_path / "list.xlsx"
    frame.to_excel(path, index=False)
    columns = parse_columns("text=Body, id=ID,published=Date,url=Link")
    first, second = iter_inputs([path], columns=columns)
    assert isinstance(first, Document) and isinstance(second, Document)
    assert (first.id, first.published, first.url) == ("seed-0", "2023-10-18", "https://example.org/a")
    assert (second.published, second.url) == ("2023-10-19", None), "a blank optional cell is no value"
    assert first.text == rows[0]["text"]


def test_every_sheet_of_a_workbook_is_read_and_named(tmp_path: Path) -> None:
    rows = _seed_rows()
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame(rows[:2]).to_excel(writer, sheet_name="October", index=False)
        pd.DataFrame(rows[2:3]).to_excel(writer, sheet_name="November", index=False)
    items = list(iter_inputs([path]))
    assert [item.origin for item in items] == [f"{path}:October:2", f"{path}:October:3", f"{path}:November:2"]
    assert [item.id for item in items] == ["seed-0", "seed-1", "seed-2"]


def test_bad_rows_are_failures_naming_the_file_and_row(tmp_path: Path) -> None:
    text = SEEDS[1].read_text(encoding="utf-8")
    frame = pd.DataFrame(
        [
            {"id": "a", "text": text, "published": "2023-10-18"},
            {"id": "b", "text": "", "published": ""},
            {"id": "a", "text": "Another article.", "published": ""},
            {"id": "c", "text": "An article.", "published": "last Tuesday"},
            {"id": "", "text": "No id.", "published": ""},
        ]
    )
    path = tmp_path / "list.csv"
    frame.to_csv(path, index=False)
    items = list(iter_inputs([path]))
    assert isinstance(items[0], Document) and items[0].id == "a"
    failures = {item.origin: item for item in items if isinstance(item, InputFailure)}
    assert failures[f"{path}:3"].reason == "empty document (no text)" and failures[f"{path}:3"].id == "b"
    assert failures[f"{path}:4"].reason == f"duplicate id 'a' (first at {path}:2)"
    assert failures[f"{path}:4"].id == f"a@{path}:4", "the failure does not shadow the first document"
    assert failures[f"{path}:5"].reason == "'published' is not an ISO date (YYYY-MM-DD...): 'last Tuesday'"
    assert failures[f"{path}:6"].reason.startswith("missing 'id'")
    assert len(items) == 5


def test_a_table_without_an_id_column_names_rows_by_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "clips.csv"
    pd.DataFrame({"text": [SEEDS[2].read_text(encoding="utf-8"), SEEDS[3].read_text(encoding="utf-8")]}).to_csv(
        path, index=False
    )
    assert [item.id for item in iter_inputs([path])] == ["clips:2", "clips:3"]


def test_a_table_without_its_text_column_is_one_failure_listing_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    pd.DataFrame({"id": ["a"], "body": ["Text."]}).to_csv(path, index=False)
    (item,) = iter_inputs([path])
    assert isinstance(item, InputFailure) and item.origin == str(path)
    assert item.reason.startswith("no column 'text' (the default for text); the columns are: id, body")
    (mapped,) = iter_inputs([path], columns={"text": "article"})
    assert isinstance(mapped, InputFailure)
    assert mapped.reason.startswith("no column 'article' (--columns text=article); the columns are: id, body")


def test_an_unreadable_table_is_a_failure(tmp_path: Path) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text('id,text\na,"one"\nb,"two",extra,more\n')
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    fake = tmp_path / "fake.xlsx"
    fake.write_text("id,text\na,b\n")
    reasons = {Path(item.origin).name: item.reason for item in iter_inputs([ragged, empty, fake])}
    assert reasons["ragged.csv"].startswith("not a readable CSV table: Error tokenizing data")
    assert reasons["empty.csv"].startswith("not a readable CSV table: No columns to parse")
    assert reasons["fake.xlsx"].startswith("not a readable XLSX workbook:")


def test_a_csv_in_a_legacy_encoding_is_decoded_and_noted(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("id,text\nx,Attaque à Mossoul: café détruit\n".encode("cp1252"))
    item = _document(path)
    assert item.text == "Attaque à Mossoul: café détruit"
    assert item.notes == ("decoded as cp1252: line 2 (not UTF-8)",)


def test_xlsx_without_openpyxl_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "list.xlsx"
    pd.DataFrame(_seed_rows()[:1]).to_excel(path, index=False)
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # `import openpyxl` now raises ImportError
    item = _one(path)
    assert isinstance(item, InputFailure)
    assert item.reason == 'reading .xlsx needs openpyxl: pip install "llm-extract[export]"'


def test_the_columns_flag_is_parsed_and_its_errors_name_it() -> None:
    assert parse_columns("text=body,id=ID") == {"text": "body", "id": "ID"}
    assert parse_columns(" url = Link ") == {"url": "Link"}
    bad = {
        "textbody": "--columns: 'textbody' is not FIELD=COLUMN (e.g. --columns text=body,id=ID)",
        "text=": "--columns: 'text=' is not FIELD=COLUMN (e.g. --columns text=body,id=ID)",
        "text=a,text=b": "--columns: 'text' is given twice",
        "body=text": "--columns: unknown field 'body' (fields: id, text, published, url, source, title)",
    }
    for spec, message in bad.items():
        with pytest.raises(ConfigError, match=re.escape(message)):
            parse_columns(spec)
    with pytest.raises(ConfigError, match="unknown field 'txt'"):
        iter_inputs([], columns={"txt": "body"})


# .txt/.md metadata: front matter and sidecar


def test_front_matter_gives_the_date_url_source_and_title_and_leaves_the_text(tmp_path: Path) -> None:
    article = SEEDS[0].read_text(encoding="utf-8")
    path = tmp_path / "seed.md"
    path.write_text(
        "---\ndate: 2023-10-19\nurl: https://example.org/seed\nsource: Newsweek\ntitle: Militia threatens\n"
        "author: staff\n---\n\n" + article,
        encoding="utf-8",
    )
    item = _document(path)
    assert item.text == article, "the front matter is not shown to the model"
    assert (item.published, item.url, item.source, item.title) == (
        "2023-10-19",
        "https://example.org/seed",
        "Newsweek",
        "Militia threatens",
    )
    assert item.notes == ("front matter keys not used: author (read: published, url, source, title)",)


def test_front_matter_with_a_time_keeps_the_date(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("---\npublished: 2023-10-19T08:15:00Z\n---\nTwo drones struck a base.\n")
    assert _document(path).published == "2023-10-19"


def test_bad_front_matter_is_a_failure_naming_the_file(tmp_path: Path) -> None:
    cases = {
        "yaml.txt": ("---\ntitle: [unclosed\n---\nText.\n", "front matter is not valid YAML ("),
        "list.txt": ("---\n- a\n- b\n---\nText.\n", "front matter (between the first two --- lines) is not a YAML"),
        "date.txt": ("---\npublished: last week\n---\nText.\n", "'published' is not an ISO date"),
        "month.txt": ("---\npublished: 2023-13-01\n---\nText.\n", "front matter has a value YAML cannot read (month"),
    }
    for name, (content, _) in cases.items():
        (tmp_path / name).write_text(content)
    items = {item.id: item for item in iter_inputs([tmp_path])}
    for name, (_, reason) in cases.items():
        item = items[name.removesuffix(".txt")]
        assert isinstance(item, InputFailure) and item.origin == str(tmp_path / name)
        assert item.reason.startswith(reason), (name, item.reason)


def test_a_sidecar_gives_a_text_article_its_metadata(tmp_path: Path) -> None:
    article = tmp_path / "seed.txt"
    article.write_text(SEEDS[4].read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "seed.meta.json").write_text(
        json.dumps({"published": "2023-10-20", "url": "https://example.org/4", "source": "AP", "lang": "en"})
    )
    items = list(iter_inputs([tmp_path]))
    assert len(items) == 1, "the sidecar is read with its article, not as an input of its own"
    (item,) = items
    assert isinstance(item, Document) and item.id == "seed"
    assert (item.published, item.url, item.source) == ("2023-10-20", "https://example.org/4", "AP")
    assert item.notes == ("seed.meta.json keys not used: lang (read: published, url, source, title)",)
    assert _document(article).published == "2023-10-20", "named on its own too"


def test_a_sidecar_overrides_what_the_file_says(tmp_path: Path) -> None:
    page = tmp_path / "tsne.html"
    page.write_bytes(TSNE.read_bytes())
    (tmp_path / "tsne.meta.json").write_text('{"published": "2019-10-25", "source": "Wikipedia"}')
    item = _document(page)
    assert (item.published, item.source, item.title) == (
        "2019-10-25",
        "Wikipedia",
        "T-distributed stochastic neighbor embedding",
    )


def test_bad_sidecars_are_failures_naming_them(tmp_path: Path) -> None:
    for name, sidecar in {"a": "{not json", "b": '{"published": "20/10/2023"}', "c": "[1]"}.items():
        (tmp_path / f"{name}.txt").write_text("Two drones struck a base.")
        (tmp_path / f"{name}.meta.json").write_text(sidecar)
    (tmp_path / "orphan.meta.json").write_text('{"published": "2023-10-20"}')
    reasons = {item.id: item.reason for item in iter_inputs([tmp_path]) if isinstance(item, InputFailure)}
    assert reasons["a"].startswith("a.meta.json is not valid JSON")
    assert reasons["b"] == "'published' is not an ISO date (YYYY-MM-DD...): '20/10/2023'"
    assert reasons["c"] == "c.meta.json is not a JSON object"
    assert reasons["orphan.meta"].startswith("a metadata sidecar without its article beside it (one of orphan.htm")
    assert len(reasons) == 4


# Folders


def test_a_folder_picks_up_every_format_in_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a.txt").write_text("Two drones struck a base.")
    (tmp_path / "b" / "page.html").write_bytes(TSNE.read_bytes())
    (tmp_path / "b" / "report.pdf").write_bytes(REPORT.read_bytes())
    pd.DataFrame({"id": ["r1"], "text": ["Shelling in the north."]}).to_csv(tmp_path / "list.csv", index=False)
    (tmp_path / ".hidden.html").write_bytes(TSNE.read_bytes())
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    items = list(iter_inputs([tmp_path]))
    assert [item.id for item in items] == ["a", "b/page", "b/report", "r1", "notes"]
    assert [type(item).__name__ for item in items] == ["Document"] * 4 + ["InputFailure"]
    notes = items[-1]
    assert isinstance(notes, InputFailure)
    supported = ".txt, .md, .html, .htm, .pdf, .jsonl, .csv, .tsv or .xlsx"
    assert notes.reason == f"unsupported file type '.docx' (use {supported})"
