/*
 * report.c: console lines, JSON lines, JUnit XML, one HTML page, and the
 * requirement coverage of the case registry.
 */
#define _POSIX_C_SOURCE 200809L

#include "conform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sgc_report_add(sgc_report *r, const sgc_result *res)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        sgc_result *v = realloc(r->v, cap * sizeof *v);
        if (v == NULL) {
            fprintf(stderr, "sg-conform: out of memory\n");
            exit(2);
        }
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = *res;
}

void sgc_report_free(sgc_report *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].findings);
    free(r->v);
    memset(r, 0, sizeof *r);
}

static const char *colour(sgc_verdict v, int tty)
{
    if (!tty)
        return "";
    switch (v) {
    case SGC_PASS: return "\033[32m";
    case SGC_FAIL: case SGC_ERROR: return "\033[31m";
    case SGC_NONSTRICT: case SGC_XFAIL: return "\033[33m";
    default: return "\033[36m";
    }
}

void sgc_print_result(const sgc_result *res, const sgc_reqs *reqs, int tty)
{
    printf("%s%-10s%s %-44s %-8s %6.1fs  %s\n", colour(res->verdict, tty),
           sgc_verdict_name(res->verdict), tty ? "\033[0m" : "",
           res->case_id, res->role, res->seconds, res->reason);
    for (int i = 0; i < res->nfindings; i++) {
        const sgc_finding *f = &res->findings[i];
        if (f->ok && !f->info)
            continue;
        const sgc_req *q = sgc_reqs_find(reqs, f->req);
        if (f->info) {
            printf("    INFO %s: %s\n", f->req, f->actual);
            continue;
        }
        printf("    %s (%s) %s\n", f->req, q ? q->level : "?",
               q ? q->text : "(unknown requirement)");
        printf("      Expected: %s\n", f->expected);
        printf("      Actual:   %s\n", f->actual);
    }
    if (res->dir[0] && res->verdict != SGC_PASS &&
        res->verdict != SGC_SKIP)
        printf("    artefacts: %s (redis-monitor.log, iut-*.stderr)\n",
               res->dir);
    fflush(stdout);
}

static cJSON *result_json(const sgc_result *res)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "case", res->case_id);
    cJSON_AddStringToObject(o, "title", res->title);
    cJSON_AddStringToObject(o, "iut", res->iut);
    cJSON_AddStringToObject(o, "role", res->role);
    cJSON_AddNumberToObject(o, "repeat", res->rep);
    cJSON_AddStringToObject(o, "verdict", sgc_verdict_name(res->verdict));
    cJSON_AddNumberToObject(o, "seconds", res->seconds);
    cJSON_AddStringToObject(o, "reason", res->reason);
    cJSON_AddStringToObject(o, "requirements", res->reqs);
    cJSON_AddStringToObject(o, "artefacts", res->dir);
    cJSON *fs = cJSON_AddArrayToObject(o, "findings");
    for (int i = 0; i < res->nfindings; i++) {
        const sgc_finding *f = &res->findings[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "requirement", f->req);
        cJSON_AddStringToObject(x, "outcome", f->info ? "info"
                                              : f->ok ? "pass" : "fail");
        cJSON_AddStringToObject(x, "expected", f->expected);
        cJSON_AddStringToObject(x, "actual", f->actual);
        cJSON_AddItemToArray(fs, x);
    }
    return o;
}

int sgc_write_jsonl(const sgc_report *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        cJSON *o = result_json(&r->v[i]);
        char *s = cJSON_PrintUnformatted(o);
        if (s)
            fprintf(f, "%s\n", s);
        free(s);
        cJSON_Delete(o);
    }
    return fclose(f);
}

static void xml_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if (ch < 0x20 && ch != '\n' && ch != '\t')
                fputc('?', f);
            else
                fputc(ch, f);
        }
    }
}

int sgc_write_junit(const sgc_report *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    size_t fails = 0, errors = 0, skipped = 0;
    double total = 0;
    for (size_t i = 0; i < r->n; i++) {
        sgc_verdict v = r->v[i].verdict;
        fails += v == SGC_FAIL || v == SGC_NONSTRICT;
        errors += v == SGC_ERROR;
        skipped += v == SGC_SKIP;
        total += r->v[i].seconds;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"sg-conform\" tests=\"%zu\" "
            "failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" "
            "time=\"%.3f\">\n", r->n, fails, errors, skipped, total);
    fprintf(f, "<testsuite name=\"sg-conform\" tests=\"%zu\" "
            "failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" "
            "time=\"%.3f\">\n", r->n, fails, errors, skipped, total);
    for (size_t i = 0; i < r->n; i++) {
        const sgc_result *res = &r->v[i];
        fprintf(f, "  <testcase classname=\"");
        xml_escape(f, res->iut);
        fprintf(f, "\" name=\"");
        xml_escape(f, res->case_id);
        if (res->rep > 0)
            fprintf(f, " #%d", res->rep);
        fprintf(f, "\" time=\"%.3f\">\n", res->seconds);
        if (res->verdict == SGC_SKIP) {
            fprintf(f, "    <skipped message=\"");
            xml_escape(f, res->reason);
            fprintf(f, "\"/>\n");
        } else if (res->verdict == SGC_ERROR) {
            fprintf(f, "    <error message=\"");
            xml_escape(f, res->reason);
            fprintf(f, "\"/>\n");
        } else if (res->verdict == SGC_FAIL ||
                   res->verdict == SGC_NONSTRICT) {
            fprintf(f, "    <failure message=\"%s\">",
                    sgc_verdict_name(res->verdict));
            for (int k = 0; k < res->nfindings; k++) {
                const sgc_finding *x = &res->findings[k];
                if (x->ok)
                    continue;
                xml_escape(f, x->req);
                fprintf(f, "\nExpected: ");
                xml_escape(f, x->expected);
                fprintf(f, "\nActual: ");
                xml_escape(f, x->actual);
                fprintf(f, "\n");
            }
            fprintf(f, "</failure>\n");
        }
        fprintf(f, "    <system-out>verdict %s; requirements ",
                sgc_verdict_name(res->verdict));
        xml_escape(f, res->reqs);
        fprintf(f, "</system-out>\n  </testcase>\n");
    }
    fprintf(f, "</testsuite>\n</testsuites>\n");
    return fclose(f);
}

/* ---- coverage --------------------------------------------------------------- */

static const char *const graded_areas[] = { "IN", "OUT", "RPC", "LOCK",
                                            "DLQ", "CLAIM", NULL };

/* 1 when some registered case names id. */
static int covered(const char *id)
{
    size_t n;
    const sgc_case *cs = sgc_cases(&n);
    size_t idl = strlen(id);
    for (size_t i = 0; i < n; i++) {
        const char *p = cs[i].reqs;
        while ((p = strstr(p, id)) != NULL) {
            if ((p[idl] == '\0' || p[idl] == ' ') &&
                (p == cs[i].reqs || p[-1] == ' '))
                return 1;
            p += idl;
        }
    }
    return 0;
}

void sgc_print_coverage(const sgc_reqs *reqs, FILE *out)
{
    fprintf(out, "Requirement coverage of the cases (areas the issue "
            "grades):\n");
    fprintf(out, "  %-6s %12s %12s\n", "area", "MUST", "SHOULD");
    int tm = 0, cm = 0, ts = 0, cs = 0;
    for (int a = 0; graded_areas[a]; a++) {
        int m = 0, mc = 0, s = 0, sc = 0;
        for (size_t i = 0; i < reqs->n; i++) {
            const sgc_req *q = &reqs->v[i];
            if (strcmp(q->area, graded_areas[a]) != 0)
                continue;
            if (strncmp(q->level, "MUST", 4) == 0) {
                m++;
                mc += covered(q->id);
            } else if (strncmp(q->level, "SHOULD", 6) == 0) {
                s++;
                sc += covered(q->id);
            }
        }
        fprintf(out, "  %-6s %5d / %-4d %5d / %-4d\n", graded_areas[a], mc, m,
                sc, s);
        tm += m;
        cm += mc;
        ts += s;
        cs += sc;
    }
    fprintf(out, "  %-6s %5d / %-4d %5d / %-4d  (MUST %.0f%%, SHOULD "
            "%.0f%%)\n", "all", cm, tm, cs, ts, tm ? 100.0 * cm / tm : 0,
            ts ? 100.0 * cs / ts : 0);
    int first = 1;
    for (int a = 0; graded_areas[a]; a++)
        for (size_t i = 0; i < reqs->n; i++) {
            const sgc_req *q = &reqs->v[i];
            if (strcmp(q->area, graded_areas[a]) != 0 ||
                strcmp(q->level, "WITHDRAWN") == 0 ||
                strncmp(q->level, "MAY", 3) == 0 || covered(q->id))
                continue;
            fprintf(out, "%s %s", first ? "  not covered:" : "", q->id);
            first = 0;
        }
    if (!first)
        fprintf(out, "\n");
    int other = 0;
    for (size_t i = 0; i < reqs->n; i++) {
        int graded = 0;
        for (int a = 0; graded_areas[a]; a++)
            graded |= strcmp(reqs->v[i].area, graded_areas[a]) == 0;
        if (!graded && covered(reqs->v[i].id))
            other++;
    }
    fprintf(out, "  also checked, other areas: %d requirements\n", other);
}

/* ---- HTML ------------------------------------------------------------------- */

static void html_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

int sgc_write_html(const sgc_report *r, const sgc_reqs *reqs,
                   const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<title>sg-conform report</title><style>"
            "body{font-family:sans-serif;margin:1em 2em}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:2px 6px;vertical-align:top;font-size:90%%}"
            ".PASS{background:#cfc}.FAIL,.ERROR{background:#fcc}"
            ".NON-STRICT,.XFAIL{background:#ffc}.SKIP,.INFO{background:#eef}"
            "details{margin:0}pre{white-space:pre-wrap;margin:0}"
            "</style></head><body>\n<h1>sg-conform report</h1>\n");
    int counts[7] = { 0 };
    for (size_t i = 0; i < r->n; i++)
        counts[r->v[i].verdict]++;
    fprintf(f, "<p>");
    for (int v = 0; v < 7; v++)
        fprintf(f, "<span class=\"%s\">%s: %d</span> ",
                sgc_verdict_name((sgc_verdict)v),
                sgc_verdict_name((sgc_verdict)v), counts[v]);
    fprintf(f, "</p>\n<h2>Cases</h2>\n<table><tr><th>case</th><th>IUT"
            "</th><th>verdict</th><th>s</th><th>requirements</th>"
            "<th>detail</th></tr>\n");
    for (size_t i = 0; i < r->n; i++) {
        const sgc_result *res = &r->v[i];
        fprintf(f, "<tr><td>");
        html_escape(f, res->case_id);
        if (res->rep > 0)
            fprintf(f, " #%d", res->rep);
        fprintf(f, "<br><small>");
        html_escape(f, res->title);
        fprintf(f, "</small></td><td>");
        html_escape(f, res->iut);
        fprintf(f, "</td><td class=\"%s\">%s</td><td>%.1f</td><td>",
                sgc_verdict_name(res->verdict),
                sgc_verdict_name(res->verdict), res->seconds);
        html_escape(f, res->reqs);
        fprintf(f, "</td><td>");
        html_escape(f, res->reason);
        if (res->nfindings) {
            fprintf(f, "<details><summary>%d findings</summary><pre>",
                    res->nfindings);
            for (int k = 0; k < res->nfindings; k++) {
                const sgc_finding *x = &res->findings[k];
                const sgc_req *q = sgc_reqs_find(reqs, x->req);
                fprintf(f, "%s ", x->info ? "INFO" : x->ok ? "ok  " : "MISS");
                html_escape(f, x->req);
                fprintf(f, " (%s) ", q ? q->level : "?");
                html_escape(f, q ? q->text : "");
                if (!x->ok || x->info) {
                    fprintf(f, "\n  Expected: ");
                    html_escape(f, x->expected);
                    fprintf(f, "\n  Actual:   ");
                    html_escape(f, x->actual);
                }
                fprintf(f, "\n");
            }
            fprintf(f, "</pre></details>");
        }
        if (res->dir[0]) {
            fprintf(f, "<br><small>artefacts: ");
            html_escape(f, res->dir);
            fprintf(f, "</small>");
        }
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n<h2>Requirement coverage</h2>\n<table><tr>"
            "<th>ID</th><th>level</th><th>cases</th><th>outcomes in this "
            "run</th><th>text</th></tr>\n");
    size_t ncases;
    const sgc_case *cs = sgc_cases(&ncases);
    for (size_t i = 0; i < reqs->n; i++) {
        const sgc_req *q = &reqs->v[i];
        char names[1024] = "";
        size_t idl = strlen(q->id);
        for (size_t k = 0; k < ncases; k++) {
            const char *p = strstr(cs[k].reqs, q->id);
            if (p && (p[idl] == '\0' || p[idl] == ' ')) {
                size_t off = strlen(names);
                snprintf(names + off, sizeof names - off, "%s%s",
                         off ? " " : "", cs[k].id);
            }
        }
        int pass = 0, fail = 0;
        for (size_t k = 0; k < r->n; k++)
            for (int x = 0; x < r->v[k].nfindings; x++)
                if (strcmp(r->v[k].findings[x].req, q->id) == 0 &&
                    !r->v[k].findings[x].info) {
                    if (r->v[k].findings[x].ok)
                        pass++;
                    else
                        fail++;
                }
        const char *cls = names[0] == '\0' ? "SKIP" : fail ? "FAIL"
                          : pass ? "PASS" : "INFO";
        fprintf(f, "<tr><td class=\"%s\">%s</td><td>%s</td><td>", cls,
                q->id, q->level);
        html_escape(f, names[0] ? names : "(no case)");
        fprintf(f, "</td><td>%d pass, %d miss</td><td>", pass, fail);
        html_escape(f, q->text);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n</body></html>\n");
    return fclose(f);
}
