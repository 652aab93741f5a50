<cfquery name="q" datasource="shop">
  SELECT name FROM products WHERE id = <cfqueryparam value="#url.id#" cfsqltype="cf_sql_integer">
</cfquery>
<cffile action="read" file="#expandPath('./footer.txt')#" variable="footer">
<cfoutput query="q">#htmlEditFormat(name)#</cfoutput>
