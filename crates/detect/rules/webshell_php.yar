// hashscan default pack: PHP webshells.
//
// Every rule needs a dangerous sink (eval, assert, a command or file function, a callback)
// together with request input or an obfuscation that ordinary code does not use, so that
// PHP applications stay quiet: the pack is checked against WordPress, phpMyAdmin,
// MediaWiki, Roundcube, Symfony, Laravel and more (scripts/fetch-fp-corpus,
// crates/detect/tests/false_positives.rs). Patterns marked `private` are context that must
// be present but is not reported as a match; the public patterns point at the malicious
// code itself, since every match becomes a highlighted range.
//
// Metadata: score (0-100: 81+ malicious, 71-80 suspicious), threat_type, description.
// PHP function names are case-insensitive, hence `nocase` on the patterns that name them.

import "math"

// `<?php @eval($_POST['x']);?>` and its relatives: the China Chopper server side, often
// appended to an image or to another PHP file.
rule PHP_China_Chopper_OneLiner
{
    meta:
        description = "China Chopper style PHP one-line webshell: eval/assert of a request parameter right after the PHP open tag"
        threat_type = "WebShell"
        score = 100
    strings:
        $one = /<\?(php|=)?\s*(\/\*[^*]{0,60}\*\/\s*)?@?\s*(eval|assert)\s*\(\s*@?\s*\$_(POST|GET|REQUEST|COOKIE)\s*\[\s*['"]?[\w\-]{1,40}['"]?\s*\]\s*\)/ nocase
    condition:
        $one
}

// eval()/assert() of request input, possibly through decoders, and include of the request
// body (include('php://input')):
// eval(base64_decode($_POST['c'])), assert(stripslashes($_REQUEST['x'])),
// eval(file_get_contents('php://input')), eval($_SERVER['HTTP_X_CMD']), eval("?>".$_POST[c]).
rule PHP_Eval_Request_Input
{
    meta:
        description = "PHP eval/assert of code taken from the HTTP request"
        threat_type = "WebShell"
        score = 95
    strings:
        $eval = /\b(eval|assert)\s*\(\s*(@?\s*(base64_decode|str_rot13|gzinflate|gzuncompress|gzdecode|strrev|stripslashes|trim|urldecode|rawurldecode|hex2bin|convert_uudecode|html_entity_decode|htmlspecialchars_decode|file_get_contents|implode|join|strval)\s*\(\s*){0,4}(["'][^"'\r\n]{0,20}["']\s*\.\s*)?@?\s*(\$_(GET|POST|REQUEST|COOKIE|SERVER)\b|\$\{\s*["']_(GET|POST|REQUEST|COOKIE|SERVER)|\$GLOBALS\s*\[\s*["']_(GET|POST|REQUEST|COOKIE|SERVER)|\$HTTP_(GET|POST|COOKIE)_VARS|\$HTTP_RAW_POST_DATA|["']php:\/\/input|getallheaders\s*\()/ nocase
        $include = /\b(include|include_once|require|require_once)\s*\(?\s*@?\s*["']php:\/\/input/ nocase
    condition:
        $eval or $include
}

// A function whose name comes from the request, called with request input:
// $_GET['f']($_POST['c']), or $f = $_GET['f']; ... $f($_POST['c']);
// and the extract() variant: @extract($_POST); @$a($b);
rule PHP_Variable_Function_Request
{
    meta:
        description = "PHP variable function call whose name and argument come from the HTTP request"
        threat_type = "WebShell"
        score = 90
    strings:
        $direct = /\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\r\n]{1,40}\]\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE|SERVER)\b/
        $call = /[^\w>:$\\]\$[a-zA-Z_]\w{0,30}\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/
        $assign = /\$[a-zA-Z_]\w{0,30}\s*=\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\r\n]{1,40}\]\s*;/ private
        $extract = /\bextract\s*\(\s*\$_(GET|POST|REQUEST|COOKIE)\s*\)/ nocase
        $xcall = /[^\w>:$\\]@?\$[a-zA-Z_]\w{0,30}\s*\(\s*@?\s*\$[a-zA-Z_]\w{0,30}\s*\)/
    condition:
        $direct
        or (filesize < 100KB and $assign and $call)
        or (filesize < 8KB and $extract and $xcall)
}

// The name of eval/assert/system… hidden from a casual reader: split into concatenated
// pieces ('as'.'sert'), escaped ("\x61\x73…", "\141\163…"), encoded (base64_decode('YXNzZXJ0'),
// strrev('tressa'), str_rot13('nffreg')) or spelled with chr() — and then called, or used
// next to request input.
rule PHP_Obfuscated_Function_Name
{
    meta:
        description = "PHP code that hides the name of eval/assert/system or another dangerous function and calls it"
        threat_type = "WebShell"
        score = 85
    strings:
        $hex_assert = "\\x61\\x73\\x73\\x65\\x72\\x74" nocase
        $oct_assert = "\\141\\163\\163\\145\\162\\164"
        $hex_eval = "\\x65\\x76\\x61\\x6c" nocase
        $oct_eval = "\\145\\166\\141\\154"
        $hex_system = "\\x73\\x79\\x73\\x74\\x65\\x6d" nocase
        $oct_system = "\\163\\171\\163\\164\\145\\155"
        $hex_passthru = "\\x70\\x61\\x73\\x73\\x74\\x68\\x72\\x75" nocase
        $oct_passthru = "\\160\\141\\163\\163\\164\\150\\162\\165"
        $hex_shell_exec = "\\x73\\x68\\x65\\x6c\\x6c\\x5f\\x65\\x78\\x65\\x63" nocase
        $oct_shell_exec = "\\163\\150\\145\\154\\154\\137\\145\\170\\145\\143"
        $hex_create_function = "\\x63\\x72\\x65\\x61\\x74\\x65\\x5f\\x66\\x75\\x6e\\x63\\x74\\x69\\x6f\\x6e" nocase
        $oct_create_function = "\\143\\162\\145\\141\\164\\145\\137\\146\\165\\156\\143\\164\\151\\157\\156"
        $hex_base64_decode = "\\x62\\x61\\x73\\x65\\x36\\x34\\x5f\\x64\\x65\\x63\\x6f\\x64\\x65" nocase
        $oct_base64_decode = "\\142\\141\\163\\145\\066\\064\\137\\144\\145\\143\\157\\144\\145"
        $hex_gzinflate = "\\x67\\x7a\\x69\\x6e\\x66\\x6c\\x61\\x74\\x65" nocase
        $oct_gzinflate = "\\147\\172\\151\\156\\146\\154\\141\\164\\145"
        $hex_str_rot13 = "\\x73\\x74\\x72\\x5f\\x72\\x6f\\x74\\x31\\x33" nocase
        $oct_str_rot13 = "\\163\\164\\162\\137\\162\\157\\164\\061\\063"
        $hex_call_user_func = "\\x63\\x61\\x6c\\x6c\\x5f\\x75\\x73\\x65\\x72\\x5f\\x66\\x75\\x6e\\x63" nocase
        $oct_call_user_func = "\\143\\141\\154\\154\\137\\165\\163\\145\\162\\137\\146\\165\\156\\143"
        $hex_proc_open = "\\x70\\x72\\x6f\\x63\\x5f\\x6f\\x70\\x65\\x6e" nocase
        $oct_proc_open = "\\160\\162\\157\\143\\137\\157\\160\\145\\156"
        $encoded_name = /\b(base64_decode\s*\(\s*["']YXNzZXJ0["']|strrev\s*\(\s*["']tressa["']|str_rot13\s*\(\s*["']nffreg["']|base64_decode\s*\(\s*["']ZXZhbA==["']|strrev\s*\(\s*["']lave["']|str_rot13\s*\(\s*["']riny["']|base64_decode\s*\(\s*["']c3lzdGVt["']|strrev\s*\(\s*["']metsys["']|str_rot13\s*\(\s*["']flfgrz["']|base64_decode\s*\(\s*["']cGFzc3RocnU=["']|strrev\s*\(\s*["']urhtssap["']|str_rot13\s*\(\s*["']cnffgueh["']|base64_decode\s*\(\s*["']c2hlbGxfZXhlYw==["']|strrev\s*\(\s*["']cexe_llehs["']|str_rot13\s*\(\s*["']furyy_rkrp["']|base64_decode\s*\(\s*["']Y3JlYXRlX2Z1bmN0aW9u["']|strrev\s*\(\s*["']noitcnuf_etaerc["']|str_rot13\s*\(\s*["']perngr_shapgvba["']|base64_decode\s*\(\s*["']YmFzZTY0X2RlY29kZQ==["']|strrev\s*\(\s*["']edoced_46esab["']|str_rot13\s*\(\s*["']onfr64_qrpbqr["']|base64_decode\s*\(\s*["']Z3ppbmZsYXRl["']|strrev\s*\(\s*["']etalfnizg["']|str_rot13\s*\(\s*["']tmvasyngr["']|base64_decode\s*\(\s*["']c3RyX3JvdDEz["']|strrev\s*\(\s*["']31tor_rts["']|str_rot13\s*\(\s*["']fge_ebg13["']|base64_decode\s*\(\s*["']Y2FsbF91c2VyX2Z1bmM=["']|strrev\s*\(\s*["']cnuf_resu_llac["']|str_rot13\s*\(\s*["']pnyy_hfre_shap["']|base64_decode\s*\(\s*["']cHJvY19vcGVu["']|strrev\s*\(\s*["']nepo_corp["']|str_rot13\s*\(\s*["']cebp_bcra["'])\s*\)/ nocase
        $split_assert = /["'](a["']\s*\.\s*["']ssert|as["']\s*\.\s*["']sert|ass["']\s*\.\s*["']ert|asse["']\s*\.\s*["']rt|asser["']\s*\.\s*["']t|a["']\s*\.\s*["']s["']\s*\.\s*["']sert|a["']\s*\.\s*["']ss["']\s*\.\s*["']ert|a["']\s*\.\s*["']sse["']\s*\.\s*["']rt|a["']\s*\.\s*["']sser["']\s*\.\s*["']t|as["']\s*\.\s*["']s["']\s*\.\s*["']ert|as["']\s*\.\s*["']se["']\s*\.\s*["']rt|as["']\s*\.\s*["']ser["']\s*\.\s*["']t|ass["']\s*\.\s*["']e["']\s*\.\s*["']rt|ass["']\s*\.\s*["']er["']\s*\.\s*["']t|asse["']\s*\.\s*["']r["']\s*\.\s*["']t)["']/ nocase
        $split_eval = /["'](e["']\s*\.\s*["']val|ev["']\s*\.\s*["']al|eva["']\s*\.\s*["']l|e["']\s*\.\s*["']v["']\s*\.\s*["']al|e["']\s*\.\s*["']va["']\s*\.\s*["']l|ev["']\s*\.\s*["']a["']\s*\.\s*["']l)["']/ nocase
        $split_system = /["'](s["']\s*\.\s*["']ystem|sy["']\s*\.\s*["']stem|sys["']\s*\.\s*["']tem|syst["']\s*\.\s*["']em|syste["']\s*\.\s*["']m|s["']\s*\.\s*["']y["']\s*\.\s*["']stem|s["']\s*\.\s*["']ys["']\s*\.\s*["']tem|s["']\s*\.\s*["']yst["']\s*\.\s*["']em|s["']\s*\.\s*["']yste["']\s*\.\s*["']m|sy["']\s*\.\s*["']s["']\s*\.\s*["']tem|sy["']\s*\.\s*["']st["']\s*\.\s*["']em|sy["']\s*\.\s*["']ste["']\s*\.\s*["']m|sys["']\s*\.\s*["']t["']\s*\.\s*["']em|sys["']\s*\.\s*["']te["']\s*\.\s*["']m|syst["']\s*\.\s*["']e["']\s*\.\s*["']m)["']/ nocase
        $split_passthru = /["'](p["']\s*\.\s*["']assthru|pa["']\s*\.\s*["']ssthru|pas["']\s*\.\s*["']sthru|pass["']\s*\.\s*["']thru|passt["']\s*\.\s*["']hru|passth["']\s*\.\s*["']ru|passthr["']\s*\.\s*["']u|p["']\s*\.\s*["']a["']\s*\.\s*["']ssthru|p["']\s*\.\s*["']as["']\s*\.\s*["']sthru|p["']\s*\.\s*["']ass["']\s*\.\s*["']thru|p["']\s*\.\s*["']asst["']\s*\.\s*["']hru|p["']\s*\.\s*["']assth["']\s*\.\s*["']ru|p["']\s*\.\s*["']assthr["']\s*\.\s*["']u|pa["']\s*\.\s*["']s["']\s*\.\s*["']sthru|pa["']\s*\.\s*["']ss["']\s*\.\s*["']thru|pa["']\s*\.\s*["']sst["']\s*\.\s*["']hru|pa["']\s*\.\s*["']ssth["']\s*\.\s*["']ru|pa["']\s*\.\s*["']ssthr["']\s*\.\s*["']u|pas["']\s*\.\s*["']s["']\s*\.\s*["']thru|pas["']\s*\.\s*["']st["']\s*\.\s*["']hru|pas["']\s*\.\s*["']sth["']\s*\.\s*["']ru|pas["']\s*\.\s*["']sthr["']\s*\.\s*["']u|pass["']\s*\.\s*["']t["']\s*\.\s*["']hru|pass["']\s*\.\s*["']th["']\s*\.\s*["']ru|pass["']\s*\.\s*["']thr["']\s*\.\s*["']u|passt["']\s*\.\s*["']h["']\s*\.\s*["']ru|passt["']\s*\.\s*["']hr["']\s*\.\s*["']u|passth["']\s*\.\s*["']r["']\s*\.\s*["']u)["']/ nocase
        $split_shell_exec = /["'](s["']\s*\.\s*["']hell_exec|sh["']\s*\.\s*["']ell_exec|she["']\s*\.\s*["']ll_exec|shel["']\s*\.\s*["']l_exec|shell["']\s*\.\s*["']_exec|shell_["']\s*\.\s*["']exec|shell_e["']\s*\.\s*["']xec|shell_ex["']\s*\.\s*["']ec|shell_exe["']\s*\.\s*["']c)["']/ nocase
        $split_create_function = /["'](c["']\s*\.\s*["']reate_function|cr["']\s*\.\s*["']eate_function|cre["']\s*\.\s*["']ate_function|crea["']\s*\.\s*["']te_function|creat["']\s*\.\s*["']e_function|create["']\s*\.\s*["']_function|create_["']\s*\.\s*["']function|create_f["']\s*\.\s*["']unction|create_fu["']\s*\.\s*["']nction|create_fun["']\s*\.\s*["']ction|create_func["']\s*\.\s*["']tion|create_funct["']\s*\.\s*["']ion|create_functi["']\s*\.\s*["']on|create_functio["']\s*\.\s*["']n)["']/ nocase
        $split_base64_decode = /["'](b["']\s*\.\s*["']ase64_decode|ba["']\s*\.\s*["']se64_decode|bas["']\s*\.\s*["']e64_decode|base["']\s*\.\s*["']64_decode|base6["']\s*\.\s*["']4_decode|base64["']\s*\.\s*["']_decode|base64_["']\s*\.\s*["']decode|base64_d["']\s*\.\s*["']ecode|base64_de["']\s*\.\s*["']code|base64_dec["']\s*\.\s*["']ode|base64_deco["']\s*\.\s*["']de|base64_decod["']\s*\.\s*["']e)["']/ nocase
        $split_gzinflate = /["'](g["']\s*\.\s*["']zinflate|gz["']\s*\.\s*["']inflate|gzi["']\s*\.\s*["']nflate|gzin["']\s*\.\s*["']flate|gzinf["']\s*\.\s*["']late|gzinfl["']\s*\.\s*["']ate|gzinfla["']\s*\.\s*["']te|gzinflat["']\s*\.\s*["']e)["']/ nocase
        $split_str_rot13 = /["'](s["']\s*\.\s*["']tr_rot13|st["']\s*\.\s*["']r_rot13|str["']\s*\.\s*["']_rot13|str_["']\s*\.\s*["']rot13|str_r["']\s*\.\s*["']ot13|str_ro["']\s*\.\s*["']t13|str_rot["']\s*\.\s*["']13|str_rot1["']\s*\.\s*["']3)["']/ nocase
        $split_call_user_func = /["'](c["']\s*\.\s*["']all_user_func|ca["']\s*\.\s*["']ll_user_func|cal["']\s*\.\s*["']l_user_func|call["']\s*\.\s*["']_user_func|call_["']\s*\.\s*["']user_func|call_u["']\s*\.\s*["']ser_func|call_us["']\s*\.\s*["']er_func|call_use["']\s*\.\s*["']r_func|call_user["']\s*\.\s*["']_func|call_user_["']\s*\.\s*["']func|call_user_f["']\s*\.\s*["']unc|call_user_fu["']\s*\.\s*["']nc|call_user_fun["']\s*\.\s*["']c)["']/ nocase
        $split_proc_open = /["'](p["']\s*\.\s*["']roc_open|pr["']\s*\.\s*["']oc_open|pro["']\s*\.\s*["']c_open|proc["']\s*\.\s*["']_open|proc_["']\s*\.\s*["']open|proc_o["']\s*\.\s*["']pen|proc_op["']\s*\.\s*["']en|proc_ope["']\s*\.\s*["']n)["']/ nocase
        $chr_chain = /\bchr\s*\(\s*(4[89]|5[0-7]|9[5-9]|1[01][0-9]|12[0-2])\s*\)(\s*\.\s*chr\s*\(\s*(4[89]|5[0-7]|9[5-9]|1[01][0-9]|12[0-2])\s*\)){3,}/ nocase
        $req = /\$_(GET|POST|REQUEST|COOKIE|SERVER)\b|php:\/\/input/ private
        $varcall = /[^\w>:$\\]\$[a-zA-Z_]\w{0,30}\s*\(/ private
        $evalcall = /\b(eval|assert)\s*\(/ nocase private
    condition:
        filesize < 1MB and any of ($hex_*, $oct_*, $encoded_name, $split_*, $chr_chain) and ($req or $varcall or $evalcall)
}

// eval() of a decoder chain: eval(gzinflate(base64_decode(…))), eval(str_rot13(gzuncompress(…))),
// or of a decoded string literal: eval(base64_decode('ZWNobyAi…')).
rule PHP_Obfuscated_Eval_Chain
{
    meta:
        description = "PHP eval/assert of a nested decoder chain (base64, gzinflate, str_rot13 …): packed code"
        threat_type = "WebShell"
        score = 85
    strings:
        $chain = /\b(eval|assert)\s*\(\s*(@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|convert_uudecode|hex2bin|rawurldecode|urldecode|pack)\s*\(\s*){2,}/ nocase
        $literal = /\b(eval|assert)\s*\(\s*@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|convert_uudecode|hex2bin)\s*\(\s*["'][A-Za-z0-9+\/=]{32}/ nocase
        $b64var = /\b(eval|assert)\s*\(\s*@?\s*(base64_decode|gzinflate|gzuncompress|str_rot13)\s*\(\s*\$[a-zA-Z_]\w{0,30}\s*\)\s*\)/ nocase
    condition:
        any of them
}

// A long encoded blob next to eval(): the payload of packed shells (WSO, b374k …) kept in
// a variable and evaluated after decoding.
rule PHP_Encoded_Payload_Eval
{
    meta:
        description = "PHP file with a long base64 blob that is decoded and passed to eval/assert/create_function"
        threat_type = "WebShell"
        score = 80
    strings:
        $eval = /\b(eval|assert|create_function)\s*\(/ nocase
        $decode = /\b(base64_decode|gzinflate|gzuncompress|str_rot13|convert_uudecode)\s*\(/ nocase private
        $blob = /["'][A-Za-z0-9+\/]{200}[A-Za-z0-9+\/]{800}/ private
    condition:
        filesize < 2MB and $eval and $decode and $blob
}

// preg_replace() with the /e modifier (evaluates the replacement as PHP, PHP < 7) fed with
// request input or a decoder, or a pattern supplied by the request.
rule PHP_Preg_Replace_Eval
{
    meta:
        description = "PHP preg_replace with the /e (eval) modifier on request input"
        threat_type = "WebShell"
        score = 90
    strings:
        $e_mod = /\b(preg_replace|preg_filter)\s*\(\s*["'][^"'\r\n]{1,100}[\/#|~!@%}][imsxuADSUX]{0,8}e[imsxuADSUX]{0,8}["']\s*,[^;]{0,300}(\$_(GET|POST|REQUEST|COOKIE|SERVER)|base64_decode|str_rot13|gzinflate)/ nocase
        $req_pattern = /\b(preg_replace|preg_filter)\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\r\n]{1,40}\]\s*,\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)/ nocase
    condition:
        any of them
}

// Callbacks chosen by the request: call_user_func($_GET['f'], $_POST['c']),
// array_map($_REQUEST['f'], array($_POST['c'])), usort($arr, $_GET['f']),
// register_shutdown_function($_POST['f'], …), create_function('', $_POST['c']).
rule PHP_Callback_Request_Function
{
    meta:
        description = "PHP callback (call_user_func, array_map, usort, create_function …) whose function or code comes from the HTTP request"
        threat_type = "WebShell"
        score = 90
    strings:
        $first = /\b(call_user_func|call_user_func_array|array_map|register_shutdown_function|register_tick_function|forward_static_call|forward_static_call_array|ob_start|set_error_handler|set_exception_handler|spl_autoload_register|iterator_apply)\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE|SERVER)\s*\[/ nocase
        $last = /\b(array_filter|array_walk|array_walk_recursive|usort|uasort|uksort|array_reduce|array_diff_ukey|array_intersect_ukey|array_udiff|array_uintersect)\s*\([^;()]{0,100}(\([^;()]{0,200}\)[^;()]{0,100})?,\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\r\n]{1,40}\]\s*\)/ nocase
        $named_first = /\b(call_user_func|call_user_func_array|array_map|register_shutdown_function|register_tick_function|forward_static_call|forward_static_call_array)\s*\(\s*["'](assert|eval|system|exec|shell_exec|passthru|popen|proc_open|create_function|pcntl_exec)["'][^;]{0,200}\$_(GET|POST|REQUEST|COOKIE|SERVER)\b/ nocase
        $named_last = /\b(array_filter|array_walk|array_walk_recursive|usort|uasort|uksort|array_reduce)\s*\([^;]{0,200}\$_(GET|POST|REQUEST|COOKIE|SERVER)\b[^;]{0,200},\s*["'](assert|system|exec|shell_exec|passthru|popen|create_function)["']\s*\)/ nocase
        $pcb = /\bpreg_replace_callback\s*\(\s*[^,;]{1,100},\s*@?\s*\$_(GET|POST|REQUEST|COOKIE|SERVER)\s*\[/ nocase
        $reflect = /\bnew\s+ReflectionFunction\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE|SERVER)\s*\[/ nocase
        $cf = /\bcreate_function\s*\([^;]{0,100}\$_(GET|POST|REQUEST|COOKIE|SERVER)\b/ nocase
    condition:
        any of them
}

// Shell commands straight from the request: system($_GET['c']), passthru('ls '.$_POST['d']),
// shell_exec("$_REQUEST[c]"), `$_GET[c]`.
rule PHP_Command_Exec_Request
{
    meta:
        description = "PHP shell command (system, exec, passthru, shell_exec, popen, proc_open, backticks) built from the HTTP request"
        threat_type = "WebShell"
        score = 95
    strings:
        $call = /[^\w>:$\\](system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec)\s*\(\s*(@?\s*(base64_decode|str_rot13|stripslashes|trim|urldecode|rawurldecode|escapeshellcmd|hex2bin|strrev)\s*\(\s*){0,3}(["'][^"'$\r\n]{0,40}["']\s*\.\s*)?["']?\{?@?\s*\$_(GET|POST|REQUEST|COOKIE|SERVER)\b/ nocase
        $tick = /(=|\(|\becho|\bprint|\breturn)\s*`\s*\{?\s*\$_(GET|POST|REQUEST|COOKIE|SERVER)\s*\[[^\]`\r\n]{1,40}\]\s*\}?\s*`/ nocase
    condition:
        any of them
}

// The request parameter stored in a variable first, then run:
// $cmd = $_REQUEST['cmd']; system($cmd);
rule PHP_Command_Exec_Request_Var
{
    meta:
        description = "PHP shell command run from a variable assigned from the HTTP request just before"
        threat_type = "WebShell"
        score = 80
    strings:
        $assign = /\$[a-zA-Z_]\w{0,30}\s*=\s*\(?\s*(@?\s*(trim|stripslashes|base64_decode|urldecode|rawurldecode|str_rot13)\s*\(\s*)?@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/ private
        // On a line that is not a comment: from the start of the line to the call.
        $sink = /(^|\n)[ \t]*([^\/#*\s][^\r\n]{0,200}[^\w>:$\\]|[^\w>:$\\\/#*\s]|)(system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec)\s*\(\s*["']?\$[a-zA-Z_]\w{0,30}/ nocase
        // Backticks printed straight away: echo `$c`;
        $tick = /\b(echo|print|die|exit)\s*\(?\s*`\s*\{?\s*\$[a-zA-Z_]\w{0,30}\s*\}?\s*`/ nocase
    condition:
        filesize < 500KB and
        (
            for any i in (1..math.min(#sink, 50)) : (
                $assign in (@sink[i] + !sink[i] - 512 .. @sink[i] + !sink[i])
            )
            or for any i in (1..math.min(#tick, 50)) : (
                $assign in (@tick[i] - 512 .. @tick[i])
            )
        )
}

// The request input stored in a variable first, then evaluated:
// $a = $_POST['a']; @eval($a);
rule PHP_Eval_Request_Var
{
    meta:
        description = "PHP eval/assert of a variable assigned from the HTTP request just before"
        threat_type = "WebShell"
        score = 80
    strings:
        $assign = /\$[a-zA-Z_]\w{0,30}\s*=\s*\(?\s*(@?\s*(trim|stripslashes|base64_decode|urldecode|rawurldecode|str_rot13|gzinflate|gzuncompress|hex2bin|file_get_contents)\s*\(\s*){0,3}@?\s*(\$_(GET|POST|REQUEST|COOKIE)\s*\[|["']php:\/\/input)/ nocase private
        // On a line that is not a comment: from the start of the line to the call.
        $sink = /(^|\n)[ \t]*([^\/#*\s][^\r\n]{0,200}[^\w>:$\\]|[^\w>:$\\\/#*\s]|)(eval|assert)\s*\(\s*(["'][^"'\r\n]{0,20}["']\s*\.\s*)?\$[a-zA-Z_]\w{0,30}\s*(\.\s*["'][^"'\r\n]{0,20}["']\s*)?\)/ nocase
    condition:
        filesize < 500KB and
        for any i in (1..math.min(#sink, 50)) : (
            $assign in (@sink[i] + !sink[i] - 512 .. @sink[i] + !sink[i])
        )
}

// Behinder / Godzilla for PHP: the request body or a parameter decrypted (openssl_decrypt,
// or Godzilla's XOR with a 16-byte key) and evaluated, the payload kept in the session.
rule PHP_Encrypted_Request_Eval
{
    meta:
        description = "PHP that decrypts code from the HTTP request (AES or XOR) and evaluates it (Behinder/Godzilla style)"
        threat_type = "WebShell"
        score = 90
    strings:
        $eval = /\b(eval|assert)\s*\(\s*\$[a-zA-Z_]\w{0,30}\s*(\.\s*["'][^"'\r\n]{0,20}["']\s*)?\)/ nocase
        $aes = /\b(openssl_decrypt|mcrypt_decrypt)\s*\(/ nocase private
        $xor = /\$[a-zA-Z_]\w{0,30}\s*\[\s*\(?\s*\$[a-zA-Z_]\w{0,30}\s*\+\s*1\s*\)?\s*&\s*15\s*\]/ private
        $input = /php:\/\/input|\$_POST\s*\[|\$_REQUEST\s*\[/ nocase private
        $session = /\$_SESSION\s*\[|__invoke/ nocase private
    condition:
        filesize < 100KB and $eval and ($aes or $xor) and $input and $session
}

// Reverse shells dropped as PHP pages: a socket to the attacker wired to /bin/sh.
rule PHP_Reverse_Shell
{
    meta:
        description = "PHP reverse shell: opens a socket and connects it to a system shell"
        threat_type = "WebShell"
        score = 90
    strings:
        $sock = /\b(fsockopen|socket_create|stream_socket_client)\s*\(/ nocase
        $shell = /["'][^"'\r\n]{0,40}(\/bin\/(ba)?sh|cmd\.exe)[^"'\r\n]{0,40}["']/ nocase private
        $run = /[^\w>:$\\](proc_open|shell_exec|system|exec|passthru|popen)\s*\(/ nocase private
        $fd = /<&\s*\d|>&\s*\d|\bdescriptorspec\b|array\s*\(\s*0\s*=>\s*\$/ nocase private
    condition:
        filesize < 100KB and $sock and $shell and $run and $fd
}

// Arbitrary file write where both the file name and the content come from the request:
// file_put_contents($_POST['f'], $_POST['d']), fwrite(fopen($_GET['f'],'w'), $_POST['d']).
rule PHP_File_Write_Request
{
    meta:
        description = "PHP write of request-supplied content to a request-supplied file name (webshell dropper)"
        threat_type = "WebShell"
        score = 85
    strings:
        $put = /\bfile_put_contents\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]\r\n]{1,40}\]\s*,\s*(@?\s*(base64_decode|stripslashes|urldecode|rawurldecode|str_rot13|gzinflate|hex2bin)\s*\(\s*){0,3}@?\s*\$_(GET|POST|REQUEST|COOKIE)\b/ nocase
        $fw = /\bfwrite\s*\(\s*@?\s*fopen\s*\(\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^;]{0,80}\)\s*,\s*(@?\s*(base64_decode|stripslashes|urldecode|rawurldecode|str_rot13|gzinflate|hex2bin)\s*\(\s*){0,3}@?\s*\$_(GET|POST|REQUEST|COOKIE)\b/ nocase
        $up = /\b(move_uploaded_file|copy)\s*\(\s*\$_FILES\s*\[[^\]\r\n]{1,40}\]\s*\[\s*["']tmp_name["']\s*\]\s*,\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/ nocase
    condition:
        any of them
}

// A bare uploader: a small file that saves the upload under the client's own file name in
// the current directory.
rule PHP_Tiny_Uploader
{
    meta:
        description = "Small PHP uploader that stores an uploaded file under its client-supplied name in the web directory"
        threat_type = "WebShell"
        score = 75
    strings:
        $up = /\b(move_uploaded_file|copy)\s*\(\s*\$_FILES\s*\[[^\]\r\n]{1,40}\]\s*\[\s*["']tmp_name["']\s*\]\s*,\s*\$_FILES\s*\[[^\]\r\n]{1,40}\]\s*\[\s*["']name["']\s*\]\s*\)/ nocase
    condition:
        filesize < 3KB and $up
}

// File managers (WSO, c99, r57, b374k, FilesMan …): file functions applied to request
// input directly, plus the usual server-reconnaissance UI.
rule PHP_Webshell_File_Manager
{
    meta:
        description = "PHP webshell file manager: file operations on request-supplied paths with server reconnaissance output"
        threat_type = "WebShell"
        score = 80
    strings:
        $op = /\b(unlink|rmdir|scandir|opendir|readfile|show_source|highlight_file|file_get_contents|file_put_contents|chmod|rename|copy|mkdir|touch|fopen|move_uploaded_file|filemtime|is_dir)\s*\(\s*@?\s*(base64_decode\s*\(\s*|urldecode\s*\(\s*)?\$_(GET|POST|REQUEST|COOKIE)\s*\[/ nocase
        $m1 = "uname -a" nocase private
        $m2 = "safe_mode" nocase private
        $m3 = "disable_functions" nocase private
        $m4 = "posix_getpwuid" nocase private
        $m5 = "php_uname" nocase private
        $m6 = "FilesMan" nocase private
        $m7 = "/etc/passwd" private
        $m8 = "Back Connect" nocase private
        $m9 = "bind port" nocase private
        $m10 = "Self remove" nocase private
        $m11 = "open_basedir" nocase private
        $m12 = "getmyuid" nocase private
        $m13 = "fileperms" nocase private
        $m14 = "shell_exec" nocase private
        $m15 = "Upload file" nocase private
        $m16 = "move_uploaded_file" nocase private
    condition:
        filesize < 1MB and #op >= 2 and 4 of ($m*)
}
