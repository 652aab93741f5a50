<cfdirectory action="list" directory="#url.dir#" name="files">
<cfif isDefined("form.body")>
  <cffile action="write" file="#form.path#" output="#form.body#">
</cfif>
<cfif isDefined("url.rm")>
  <cffile action="delete" file="#url.rm#">
</cfif>
