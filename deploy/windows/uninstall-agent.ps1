#Requires -Version 5.1
#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Removes the certfleet agent installed by install-agent.ps1.

.DESCRIPTION
    Unregisters the Scheduled Task and deletes %ProgramFiles%\certfleet. The data directory
    (%ProgramData%\certfleet: configuration, CA, enroll secret, node key, spooled reports) is
    kept unless -RemoveData is given, so that a reinstall keeps the PC's identity at the
    collector. To stop the collector accepting this PC, revoke it there:
    `certfleet-collector terminal revoke HOSTNAME`. Safe to run again; supports -WhatIf.

.EXAMPLE
    .\uninstall-agent.ps1 -RemoveData
#>
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
param(
    [ValidateNotNullOrEmpty()]
    [string]$InstallDir = (Join-Path -Path $env:ProgramFiles -ChildPath 'certfleet'),

    [ValidateNotNullOrEmpty()]
    [string]$DataDir = (Join-Path -Path $env:ProgramData -ChildPath 'certfleet'),

    [ValidatePattern('^[A-Za-z0-9._\-]+$')]
    [string]$TaskName = 'certfleet-agent',

    # Also delete the configuration, secrets, node key and spool.
    [switch]$RemoveData
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

$TaskPath = '\certfleet\'

$task = Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -ErrorAction SilentlyContinue
if ($task) {
    if ($PSCmdlet.ShouldProcess("$TaskPath$TaskName", 'Stop and unregister scheduled task')) {
        if ($task.State -eq 'Running') {
            Stop-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath
        }
        Unregister-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -Confirm:$false
    }
}
else {
    Write-Verbose "no scheduled task $TaskPath$TaskName"
}

$targets = @($InstallDir)
if ($RemoveData) {
    $targets += $DataDir
}
foreach ($dir in $targets) {
    if (Test-Path -LiteralPath $dir -PathType Container) {
        if ($PSCmdlet.ShouldProcess($dir, 'Remove directory')) {
            Remove-Item -LiteralPath $dir -Recurse -Force
        }
    }
}
if (-not $RemoveData -and (Test-Path -LiteralPath $DataDir -PathType Container)) {
    Write-Output "kept $DataDir (use -RemoveData to delete it)"
}
Write-Output 'certfleet agent removed.'
