// The EICAR anti-virus test file (https://www.eicar.org/download-anti-malware-testfile/):
// 68 bytes, optionally followed by whitespace. Engines report it as a test, not a threat.
rule EICAR_Test_File
{
    meta:
        description = "EICAR anti-virus test file"
        threat_type = "Engtest"
        score = 100
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        filesize < 128 and $eicar at 0
}
