/*
 * certstore-helper.exe: the Windows side of tests/tests/windows_wine.rs, run under Wine.
 * Test-only; never shipped.
 *
 * It writes the test certificates through Wine's real crypt32 (not certfleet's own
 * serializer), so the agent is tested against what the Windows API produces:
 *
 *   certstore-helper store SPEC-FILE
 *       SPEC-FILE is UTF-8, one tab-separated line per certificate:
 *         add        user|machine  DER-FILE  none|capi|cng  FRIENDLY-NAME
 *         serialize  OUT-FILE      DER-FILE  none|capi|cng  FRIENDLY-NAME
 *       "add" puts the certificate into CurrentUser\My or LocalMachine\My with
 *       CertAddEncodedCertificateToStore; "serialize" writes the serialized store element
 *       (CertSerializeCertificateStoreElement) to OUT-FILE, i.e. a Personal-store file as
 *       Windows keeps it under a profile. The key column sets CERT_KEY_PROV_INFO_PROP_ID for
 *       a CAPI provider (type PROV_RSA_FULL), for a CNG key storage provider (type 0), or not
 *       at all. An empty FRIENDLY-NAME sets none. File names are Windows paths.
 *
 *   certstore-helper run CMDLINE-FILE [WORKDIR]
 *       Starts the UTF-8 command line in CMDLINE-FILE with CreateProcessW, exactly as Task
 *       Scheduler starts an Exec action (lpApplicationName NULL, so Windows' own command-line
 *       parsing applies), waits and exits with the child's exit code.
 *
 *   certstore-helper measure CMDLINE-FILE [WORKDIR]
 *       As run, then prints to stderr the child's wall-clock time and its peak working set and
 *       peak committed memory (GetProcessMemoryInfo): the figures of tests/windows/bench-wine-scan.sh.
 *
 *   certstore-helper version EXE
 *       Prints FileVersion, ProductVersion, ProductName, CompanyName and FileDescription from
 *       the version resource, one "Name=value" line each, in UTF-8.
 *
 *   certstore-helper winhttp-proxy PROXY [BYPASS]
 *   certstore-helper winhttp-proxy direct
 *       Sets the machine's WinHTTP default proxy with WinHttpSetDefaultProxyConfiguration,
 *       the call behind `netsh winhttp set proxy PROXY BYPASS` (and `netsh winhttp reset
 *       proxy` for "direct"), then reads it back with WinHttpGetDefaultProxyConfiguration.
 */
#ifndef UNICODE
#define UNICODE
#endif
#ifndef _UNICODE
#define _UNICODE
#endif
#include <windows.h>
#include <wincrypt.h>
#include <psapi.h>
#include <winhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static wchar_t *utf8_to_wide(const char *s)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    wchar_t *w;
    if (n <= 0)
        return NULL;
    w = malloc(n * sizeof(wchar_t));
    MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
    return w;
}

static void print_wide(const char *label, const wchar_t *w)
{
    char buf[4096];
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, sizeof(buf), NULL, NULL);
    if (n <= 0)
        buf[0] = 0;
    printf("%s=%s\n", label, buf);
}

static BYTE *read_file(const wchar_t *path, DWORD *len)
{
    HANDLE h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    BYTE *data;
    DWORD size, got = 0;
    if (h == INVALID_HANDLE_VALUE)
        return NULL;
    size = GetFileSize(h, NULL);
    data = malloc(size + 1);
    if (!ReadFile(h, data, size, &got, NULL) || got != size) {
        CloseHandle(h);
        free(data);
        return NULL;
    }
    CloseHandle(h);
    data[size] = 0;
    *len = size;
    return data;
}

static int fail(const char *what, const char *line)
{
    fprintf(stderr, "certstore-helper: %s failed (error %lu) on: %s\n", what, GetLastError(), line);
    return 1;
}

static BOOL set_key_prov_info(PCCERT_CONTEXT ctx, const char *kind)
{
    CRYPT_KEY_PROV_INFO info;
    if (strcmp(kind, "none") == 0)
        return TRUE;
    memset(&info, 0, sizeof(info));
    info.pwszContainerName = L"certfleet-test-container";
    if (strcmp(kind, "capi") == 0) {
        info.pwszProvName = L"Microsoft Enhanced Cryptographic Provider v1.0";
        info.dwProvType = PROV_RSA_FULL;
        info.dwKeySpec = AT_KEYEXCHANGE;
    } else if (strcmp(kind, "cng") == 0) {
        /* A CNG key storage provider: provider type 0, no key spec. */
        info.pwszProvName = L"Microsoft Software Key Storage Provider";
        info.dwProvType = 0;
        info.dwKeySpec = 0;
    } else {
        SetLastError(ERROR_INVALID_PARAMETER);
        return FALSE;
    }
    return CertSetCertificateContextProperty(ctx, CERT_KEY_PROV_INFO_PROP_ID, 0, &info);
}

static BOOL set_friendly_name(PCCERT_CONTEXT ctx, const char *name)
{
    CRYPT_DATA_BLOB blob;
    wchar_t *w;
    BOOL ok;
    if (name[0] == 0)
        return TRUE;
    w = utf8_to_wide(name);
    if (!w)
        return FALSE;
    blob.pbData = (BYTE *)w;
    blob.cbData = (DWORD)((wcslen(w) + 1) * sizeof(wchar_t));
    ok = CertSetCertificateContextProperty(ctx, CERT_FRIENDLY_NAME_PROP_ID, 0, &blob);
    free(w);
    return ok;
}

/* Splits `line` at tabs into exactly `n` fields (the last one takes the rest). */
static int split(char *line, char **fields, int n)
{
    int i;
    for (i = 0; i < n - 1; i++) {
        char *tab = strchr(line, '\t');
        if (!tab)
            return 0;
        *tab = 0;
        fields[i] = line;
        line = tab + 1;
    }
    fields[n - 1] = line;
    return 1;
}

static int store_line(char *line)
{
    char copy[8192];
    char *f[5];
    wchar_t *der_path, *target = NULL;
    BYTE *der;
    DWORD der_len;
    HCERTSTORE store;
    PCCERT_CONTEXT ctx = NULL;
    int serialize;

    strncpy(copy, line, sizeof(copy) - 1);
    copy[sizeof(copy) - 1] = 0;
    if (!split(line, f, 5)) {
        fprintf(stderr, "certstore-helper: expected 5 tab-separated fields: %s\n", copy);
        return 1;
    }
    serialize = strcmp(f[0], "serialize") == 0;
    if (!serialize && strcmp(f[0], "add") != 0) {
        fprintf(stderr, "certstore-helper: unknown action %s\n", f[0]);
        return 1;
    }
    der_path = utf8_to_wide(f[2]);
    der = der_path ? read_file(der_path, &der_len) : NULL;
    if (!der)
        return fail("reading the DER file", copy);
    if (serialize) {
        store = CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, 0, NULL);
        target = utf8_to_wide(f[1]);
    } else if (strcmp(f[1], "user") == 0) {
        store = CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, CERT_SYSTEM_STORE_CURRENT_USER, L"MY");
    } else if (strcmp(f[1], "machine") == 0) {
        store = CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, CERT_SYSTEM_STORE_LOCAL_MACHINE, L"MY");
    } else {
        fprintf(stderr, "certstore-helper: unknown store %s\n", f[1]);
        return 1;
    }
    if (!store)
        return fail("CertOpenStore", copy);
    if (!CertAddEncodedCertificateToStore(store, X509_ASN_ENCODING | PKCS_7_ASN_ENCODING, der,
                                          der_len, CERT_STORE_ADD_REPLACE_EXISTING, &ctx))
        return fail("CertAddEncodedCertificateToStore", copy);
    if (!set_key_prov_info(ctx, f[3]))
        return fail("setting CERT_KEY_PROV_INFO_PROP_ID", copy);
    if (!set_friendly_name(ctx, f[4]))
        return fail("setting CERT_FRIENDLY_NAME_PROP_ID", copy);
    if (serialize) {
        DWORD size = 0, written = 0;
        BYTE *element;
        HANDLE out;
        if (!CertSerializeCertificateStoreElement(ctx, 0, NULL, &size))
            return fail("CertSerializeCertificateStoreElement (size)", copy);
        element = malloc(size);
        if (!CertSerializeCertificateStoreElement(ctx, 0, element, &size))
            return fail("CertSerializeCertificateStoreElement", copy);
        out = CreateFileW(target, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
        if (out == INVALID_HANDLE_VALUE)
            return fail("creating the element file", copy);
        if (!WriteFile(out, element, size, &written, NULL) || written != size)
            return fail("writing the element file", copy);
        CloseHandle(out);
        free(element);
    }
    CertFreeCertificateContext(ctx);
    CertCloseStore(store, 0);
    free(der);
    free(der_path);
    free(target);
    return 0;
}

static int cmd_store(const wchar_t *spec_path)
{
    DWORD len;
    char *text = (char *)read_file(spec_path, &len), *line, *next;
    if (!text) {
        fprintf(stderr, "certstore-helper: cannot read the spec file\n");
        return 1;
    }
    for (line = text; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if (line[0] == 0 || line[0] == '#')
            continue;
        if (store_line(line))
            return 1;
    }
    return 0;
}

static int cmd_run(const wchar_t *cmdline_path, const wchar_t *workdir, int measure)
{
    DWORD len, code = 1;
    char *text = (char *)read_file(cmdline_path, &len);
    wchar_t *cmdline;
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    if (!text) {
        fprintf(stderr, "certstore-helper: cannot read the command-line file\n");
        return 1;
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = 0;
    cmdline = utf8_to_wide(text);
    memset(&si, 0, sizeof(si));
    si.cb = sizeof(si);
    if (!CreateProcessW(NULL, cmdline, NULL, NULL, TRUE, 0, NULL, workdir, &si, &pi)) {
        fprintf(stderr, "certstore-helper: CreateProcessW failed (error %lu): %s\n", GetLastError(), text);
        return 1;
    }
    {
        LARGE_INTEGER freq, start, end;
        QueryPerformanceFrequency(&freq);
        QueryPerformanceCounter(&start);
        WaitForSingleObject(pi.hProcess, INFINITE);
        QueryPerformanceCounter(&end);
        if (measure) {
            PROCESS_MEMORY_COUNTERS pmc;
            memset(&pmc, 0, sizeof(pmc));
            pmc.cb = sizeof(pmc);
            fprintf(stderr, "elapsed_ms=%.1f",
                    (double)(end.QuadPart - start.QuadPart) * 1000.0 / (double)freq.QuadPart);
            /* Wine sometimes cannot read the counters of a process that just exited. */
            if (GetProcessMemoryInfo(pi.hProcess, &pmc, sizeof(pmc)) && pmc.PeakWorkingSetSize)
                fprintf(stderr, " peak_working_set_kib=%llu peak_commit_kib=%llu\n",
                        (unsigned long long)pmc.PeakWorkingSetSize / 1024,
                        (unsigned long long)pmc.PeakPagefileUsage / 1024);
            else
                fprintf(stderr, " peak_working_set_kib=n/a peak_commit_kib=n/a\n");
        }
    }
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    return (int)code;
}

static int cmd_version(const wchar_t *exe)
{
    static const wchar_t *names[] = {L"FileVersion", L"ProductVersion", L"ProductName",
                                     L"CompanyName", L"FileDescription"};
    DWORD handle = 0, size = GetFileVersionInfoSizeW(exe, &handle);
    BYTE *info;
    struct { WORD lang, codepage; } *translation;
    UINT tlen = 0;
    int i;
    if (size == 0) {
        fprintf(stderr, "certstore-helper: no version resource (error %lu)\n", GetLastError());
        return 1;
    }
    info = malloc(size);
    if (!GetFileVersionInfoW(exe, 0, size, info) ||
        !VerQueryValueW(info, L"\\VarFileInfo\\Translation", (void **)&translation, &tlen) ||
        tlen < sizeof(*translation)) {
        fprintf(stderr, "certstore-helper: unreadable version resource\n");
        return 1;
    }
    for (i = 0; i < 5; i++) {
        wchar_t query[128];
        wchar_t *value;
        UINT vlen = 0;
        char label[64];
        swprintf(query, 128, L"\\StringFileInfo\\%04x%04x\\%ls", translation->lang,
                 translation->codepage, names[i]);
        WideCharToMultiByte(CP_UTF8, 0, names[i], -1, label, sizeof(label), NULL, NULL);
        if (VerQueryValueW(info, query, (void **)&value, &vlen) && vlen > 0)
            print_wide(label, value);
        else
            printf("%s=\n", label);
    }
    return 0;
}

static int cmd_winhttp_proxy(wchar_t *proxy, wchar_t *bypass)
{
    WINHTTP_PROXY_INFO info = {0};
    WINHTTP_PROXY_INFO back = {0};
    if (wcscmp(proxy, L"direct") == 0) {
        info.dwAccessType = WINHTTP_ACCESS_TYPE_NO_PROXY;
    } else {
        info.dwAccessType = WINHTTP_ACCESS_TYPE_NAMED_PROXY;
        info.lpszProxy = proxy;
        info.lpszProxyBypass = bypass;
    }
    if (!WinHttpSetDefaultProxyConfiguration(&info)) {
        fprintf(stderr, "certstore-helper: WinHttpSetDefaultProxyConfiguration failed (%lu)\n",
                GetLastError());
        return 1;
    }
    if (!WinHttpGetDefaultProxyConfiguration(&back)) {
        fprintf(stderr, "certstore-helper: WinHttpGetDefaultProxyConfiguration failed (%lu)\n",
                GetLastError());
        return 1;
    }
    printf("access type %lu\n", (unsigned long)back.dwAccessType);
    if (back.lpszProxy)
        GlobalFree(back.lpszProxy);
    if (back.lpszProxyBypass)
        GlobalFree(back.lpszProxyBypass);
    return back.dwAccessType == info.dwAccessType ? 0 : 1;
}

int wmain(int argc, wchar_t **argv)
{
    if (argc >= 3 && wcscmp(argv[1], L"winhttp-proxy") == 0)
        return cmd_winhttp_proxy(argv[2], argc >= 4 ? argv[3] : NULL);
    if (argc >= 3 && wcscmp(argv[1], L"store") == 0)
        return cmd_store(argv[2]);
    if (argc >= 3 && wcscmp(argv[1], L"run") == 0)
        return cmd_run(argv[2], argc >= 4 ? argv[3] : NULL, 0);
    if (argc >= 3 && wcscmp(argv[1], L"measure") == 0)
        return cmd_run(argv[2], argc >= 4 ? argv[3] : NULL, 1);
    if (argc >= 3 && wcscmp(argv[1], L"version") == 0)
        return cmd_version(argv[2]);
    fprintf(stderr, "usage: certstore-helper store SPEC | run CMDLINE-FILE [WORKDIR] | "
                    "measure CMDLINE-FILE [WORKDIR] | version EXE | "
                    "winhttp-proxy PROXY|direct [BYPASS]\n");
    return 2;
}
