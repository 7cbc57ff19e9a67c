/*
 * bcryptprimitives.dll shim for running Rust programs under Wine 8.0. Test-only; never shipped.
 *
 * Rust's std (1.78 and later) draws random numbers from ProcessPrng in bcryptprimitives.dll,
 * which Windows 10+ has and Wine 8.0 does not. This DLL exports ProcessPrng over advapi32's
 * SystemFunction036 (RtlGenRandom), which Wine implements. tests/tests/windows_wine.rs puts it
 * beside the test executables and into the Wine prefix's system32 (for msiexec's custom
 * actions); it is never part of a release or an MSI.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
