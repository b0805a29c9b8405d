/* Test-only stand-in for Windows' bcryptprimitives.dll, for Wine 8.0, which lacks it. Rust's
 * standard library for Windows takes its random bytes (HashMap keys) from ProcessPrng there;
 * this forwards to RtlGenRandom (SystemFunction036 in advapi32), which Wine has. Built and put
 * beside the .exe files by scripts/windows-test.sh only; never shipped in the zip. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
