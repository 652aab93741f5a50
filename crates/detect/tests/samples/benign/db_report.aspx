<%@ Page Language="C#" %>
<%@ Import Namespace="System.Data.SqlClient" %>
<script runat="server">
// Report page: parameterised query, ExecuteScalar/ExecuteReader on request input.
void Page_Load(object s, System.EventArgs e) {
    using (var c = new SqlConnection(System.Configuration.ConfigurationManager.ConnectionStrings["db"].ConnectionString)) {
        c.Open();
        var q = new SqlCommand("select count(*) from orders where region = @r", c);
        q.Parameters.AddWithValue("@r", Request.QueryString["region"]);
        Count.Text = Server.HtmlEncode(q.ExecuteScalar().ToString());
        var list = new SqlCommand("select name from regions", c).ExecuteReader();
        while (list.Read()) { Regions.Items.Add(list.GetString(0)); }
    }
}
</script>
<asp:Label ID="Count" runat="server" /><asp:DropDownList ID="Regions" runat="server" />
