"""CSV import of contacts in the staff area: upload, map the columns (guessed from the
header) with a preview of the first rows, then import and report row by row."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from consentapp.form_fields import choices, topic_choices
from consentapp.i18n import current_language
from consentapp.labels import label
from consentapp.request_checks import View
from consentapp.services.csv_import import (
    IMPORT_CHANNELS,
    IMPORT_FIELDS,
    ImportFileError,
    ImportMapping,
    UploadedCsv,
    discard_upload,
    load_upload,
    run_import,
    store_upload,
)
from consentapp.services.import_preview import guess_columns, preview
from consentapp.services.topics import active_topics
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.forms import ImportMappingForm, ImportUploadForm

COLUMN_FIELDS = (*IMPORT_FIELDS, "channel_column", "evidence_column")


@bp.route("/contacts/import", methods=["GET", "POST"])
def import_upload() -> View:
    """Step 1: upload a CSV file (UTF-8)."""
    limit = current_app.config["IMPORT_MAX_BYTES"]
    form = ImportUploadForm()
    if request.method == "GET":
        return render_template("staff/import_upload.html", form=form, limit=limit)
    if not form.validate():
        return render_template("staff/import_upload.html", form=form, limit=limit), 400
    try:
        upload = store_upload(form.file.data.read())
    except ImportFileError as exc:
        form.file.errors = [str(exc)]
        return render_template("staff/import_upload.html", form=form, limit=limit), 400
    return redirect(url_for("staff.import_mapping", upload=upload.name))


def _mapping_form(columns: list[str]) -> ImportMappingForm:
    form = ImportMappingForm()
    column_choices = choices([("", "—"), *((c, c) for c in columns)])
    for name in COLUMN_FIELDS:
        getattr(form, name).choices = column_choices
    form.channel.choices = choices([("", "—"), *((c, label(c)) for c in IMPORT_CHANNELS)])
    form.topics.choices = topic_choices(active_topics(), current_language())
    return form


def _mapping_page(form: ImportMappingForm, upload: UploadedCsv, status: int = 200) -> View:
    """The mapping form with the first rows as the chosen mapping imports them."""
    mapping = _import_mapping(form)
    shown = [name for name in IMPORT_FIELDS if mapping.columns[name]]
    shown += ["channel"] if mapping.channel_column or mapping.channel else []
    shown += ["evidence"] if mapping.evidence_column or mapping.evidence.strip() else []
    rows = preview(upload, mapping)
    page = render_template(
        "staff/import_mapping.html", form=form, upload=upload, preview=rows, shown=shown
    )
    return page, status


@bp.route("/contacts/import/<upload>", methods=["GET", "POST"])
def import_mapping(upload: str) -> View:
    """Step 2: map columns (guessed from the header), name the consent channel and
    evidence, look at the preview; then import."""
    try:
        parsed = load_upload(upload)
    except ImportFileError as exc:
        flash(str(exc), "info")
        return redirect(url_for("staff.import_upload"))
    form = _mapping_form(parsed.columns)
    if request.method == "GET":
        form.upload.data = upload
        for name, column in guess_columns(parsed.columns).items():
            getattr(form, name).data = column
        return _mapping_page(form, parsed)
    if not form.validate():
        return _mapping_page(form, parsed, 400)
    if "preview" in request.form:
        return _mapping_page(form, parsed)
    return _import(form, parsed)


def _import(form: ImportMappingForm, upload: UploadedCsv) -> View | BaseResponse:
    try:
        report = run_import(upload, _import_mapping(form), current_staff())
    except ImportFileError as exc:
        flash(str(exc), "info")
        return _mapping_page(form, upload, 400)
    discard_upload(upload.name)
    return render_template("staff/import_report.html", report=report, upload=upload)


def _import_mapping(form: ImportMappingForm) -> ImportMapping:
    """The column mapping staff chose, as the import takes it."""
    return ImportMapping(
        columns={name: getattr(form, name).data or "" for name in IMPORT_FIELDS},
        channel_column=form.channel_column.data or "",
        channel=form.channel.data or "",
        evidence_column=form.evidence_column.data or "",
        evidence=form.evidence.data or "",
        topics=tuple(form.topics.data or ()),
        send_confirmation=bool(form.send_confirmation.data),
        agreement_covers_newsletters=bool(form.agreement_covers_newsletters.data),
    )
