// hashscan default pack: HTTP tunnels dropped as web pages (reGeorg-style SOCKS tunnels in
// PHP, JSP and ASP.NET).
//
// A tunnel page opens a TCP connection to a host and port the request names and relays
// bytes both ways, driven by a small command set (connect, disconnect, read, forward) sent
// in headers or parameters. Ordinary pages do not open sockets for their visitors.
// Patterns marked `private` are context that must be present but is not reported.
//
// Metadata: score (0-100: 81+ malicious, 71-80 suspicious), threat_type, description.

rule Web_Socket_Tunnel
{
    meta:
        description = "Web page that opens TCP connections to request-chosen hosts and relays data (HTTP tunnel)"
        threat_type = "WebShell"
        score = 80
    strings:
        $sock = /\b(fsockopen|stream_socket_client|socket_connect)\s*\(|SocketChannel\s*\.\s*open\s*\(|new\s+(java\.net\.)?Socket\s*\(|new\s+(System\s*\.\s*Net\s*\.\s*Sockets\s*\.\s*)?(Socket|TcpClient)\s*\(/
        $c1 = /["']CONNECT["']/ private
        $c2 = /["']DISCONNECT["']/ private
        $c3 = /["']READ["']/ private
        $c4 = /["']FORWARD["']/ private
        $page = /<\?php|<%|runat\s*=\s*["']?server/ nocase private
    condition:
        filesize < 1MB and $page and $sock and 3 of ($c*)
}
